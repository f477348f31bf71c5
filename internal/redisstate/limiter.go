package redisstate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate is a vendor limit: at most Limit requests in any window of length Per
// (ESET: 10 per second; Cyberhaven DLP: 60 per minute).
type Rate struct {
	Limit int
	Per   time.Duration
	// Slack is how much later one request may reach the vendor than one
	// granted before it (scheduling, network) without the vendor seeing more
	// than Limit in a window; Per/12 but at most 250ms when zero. Grants
	// are spaced (Per+Slack)/Limit apart, so the limiter reaches
	// Per/(Per+Slack) of the limit: 92 % of 10/s, 99.6 % of 60/min.
	Slack time.Duration
}

func (r Rate) interval() time.Duration {
	if r.Slack <= 0 {
		r.Slack = min(r.Per/12, 250*time.Millisecond)
	}
	return (r.Per + r.Slack) / time.Duration(max(r.Limit, 1))
}

// gcraScript reserves the next free slot of a GCRA schedule (burst one) kept
// as its theoretical arrival time in KEYS[1], on Redis's clock, in µs.
// ARGV[1] is the spacing, ARGV[2] the longest wait the caller accepts,
// ARGV[3] a precharge: slots a replica granted locally during an outage and
// now adds to the shared schedule. It returns {1, wait} for a reserved slot
// and {0, wait} when the slot is further away than the caller can wait (then
// nothing is reserved).
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local every, maxwait, pre = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + pre
local wait = tat - now
if wait > maxwait then
  if pre > 0 then redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor(wait / 1000) + 1000) end
  return {0, wait}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + every), 'PX', math.floor((wait + every) / 1000) + 1000)
return {1, wait}
`)

// Limiter is a driver.Limiter shared by every replica through Redis, with a
// local fallback while Redis is away.
//
// The fallback lets each replica send at most Limit/N requests in any window
// of Per+Slack (a sliding log, not a rate: N independent rate limiters of
// Limit/N each could together put N-1 more into one window). It starts with
// the replica's own shared grants of the last window, so the switch adds
// nothing while the replicas shared the load evenly. When Redis returns, the
// local grants of the last window are added to the shared schedule first.
type Limiter struct {
	s      *Store
	name   string
	key    string
	every  time.Duration
	window time.Duration
	share  int // requests per window each replica allows itself on the fallback
	// maxLate is how late a waiter may wake for its slot and still send: a
	// later one would eat into the slack of the requests after it, so it
	// gives the slot up and queues again. A quarter of the slack; the rest
	// is for the way from the waiter to the vendor.
	maxLate time.Duration

	mu        sync.Mutex
	fallback  bool
	nextProbe time.Time
	// recent are this replica's grants of the last window, oldest first.
	recent []grant

	shared, granted, outages, late atomic.Uint64
}

type grant struct {
	at    time.Time
	local bool
}

// LimiterStats are a limiter's counters, for metrics.
type LimiterStats struct {
	Shared   uint64 // slots granted through Redis
	Local    uint64 // slots granted by the local fallback
	Outages  uint64 // times Redis was found away
	Fallback bool   // running on the local fallback now
	// Late counts shared slots given up because the waiter woke too late
	// for them (an overloaded host).
	Late uint64
}

// Limiter returns the shared limiter of one vendor credential; name
// identifies the credential (an instance name), and every replica must use
// the same name and rate.
func (s *Store) Limiter(name string, r Rate) *Limiter {
	every := r.interval()
	limit := max(r.Limit, 1)
	l := &Limiter{
		s: s, name: name, key: s.key("rate", name), every: every,
		window: every * time.Duration(limit), share: max(1, limit/s.n),
		maxLate: (every*time.Duration(limit) - r.Per) / 4,
	}
	s.register("rate:"+name, l)
	return l
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	fb := l.fallback
	l.mu.Unlock()
	return LimiterStats{Shared: l.shared.Load(), Local: l.granted.Load(), Outages: l.outages.Load(), Fallback: fb, Late: l.late.Load()}
}

// Wait blocks until the request may be sent, or returns an error when the
// next slot is beyond ctx's deadline.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if pre, ok := l.tryShared(); ok {
			done, err := l.waitShared(ctx, pre)
			if done || err != nil {
				return err
			}
		}
		next, ok := l.takeLocal()
		if ok {
			return nil
		}
		if dl, has := ctx.Deadline(); has && next.After(dl) {
			return fmt.Errorf("rate limit %s (this replica's share while Redis is away): the next free slot is beyond the deadline", l.name)
		}
		if err := sleep(ctx, time.Until(next)); err != nil {
			return fmt.Errorf("rate limit %s: %w", l.name, err)
		}
	}
}

// waitShared reserves a slot in Redis and sleeps until it. done is false
// when Redis could not answer and the limiter fell back, or when the waiter
// woke too late for its slot.
func (l *Limiter) waitShared(ctx context.Context, pre time.Duration) (done bool, err error) {
	maxWait := time.Hour
	if dl, ok := ctx.Deadline(); ok {
		maxWait = time.Until(dl)
	}
	if maxWait <= 0 {
		return true, fmt.Errorf("rate limit %s: %w", l.name, context.DeadlineExceeded)
	}
	res, err := gcraScript.Run(ctx, l.s.rdb, []string{l.key}, l.every.Microseconds(), maxWait.Microseconds(), pre.Microseconds()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("rate limit %s: %w", l.name, ctx.Err())
		}
		l.fallBack(err)
		return false, nil
	}
	l.onRedis()
	wait := time.Duration(res[1]) * time.Microsecond
	if res[0] == 0 {
		return true, fmt.Errorf("rate limit %s: the next free slot is %s away, beyond the deadline", l.name, wait.Round(time.Millisecond))
	}
	slot := time.Now().Add(wait)
	if err := sleep(ctx, wait); err != nil {
		return true, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if wait > 0 && time.Since(slot) > l.maxLate {
		l.late.Add(1)
		return false, nil
	}
	l.shared.Add(1)
	l.record(grant{at: time.Now()})
	return true, nil
}

// tryShared tells whether to ask Redis: always while it answers, and once
// per probe interval while it is away. It also returns the precharge the
// attempt carries: the local grants of the last window.
func (l *Limiter) tryShared() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fallback {
		return 0, true
	}
	now := time.Now()
	if now.Before(l.nextProbe) {
		return 0, false
	}
	l.nextProbe = now.Add(l.s.probe)
	l.trim(now)
	n := 0
	for _, g := range l.recent {
		if g.local {
			n++
		}
	}
	return time.Duration(n) * l.every, true
}

// takeLocal grants a slot of this replica's share when one is free, else
// says when to try again (a slot frees, or Redis is due a probe).
func (l *Limiter) takeLocal() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.fallback {
		return now, false
	}
	l.trim(now)
	if len(l.recent) < l.share {
		l.recent = append(l.recent, grant{at: now, local: true})
		l.granted.Add(1)
		return now, true
	}
	next := l.recent[len(l.recent)-l.share].at.Add(l.window)
	if l.nextProbe.Before(next) {
		next = l.nextProbe
	}
	return next, false
}

func (l *Limiter) record(g grant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trim(g.at)
	i := len(l.recent)
	for i > 0 && l.recent[i-1].at.After(g.at) {
		i--
	}
	l.recent = slices.Insert(l.recent, i, g)
}

func (l *Limiter) onRedis() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fallback {
		return
	}
	l.fallback = false
	// The local grants are now part of the shared schedule.
	l.recent = slices.DeleteFunc(l.recent, func(g grant) bool { return g.local })
	l.s.log.Info("shared rate limit back on Redis", "limiter", l.name)
}

func (l *Limiter) fallBack(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextProbe = time.Now().Add(l.s.probe)
	if l.fallback {
		return
	}
	l.fallback = true
	l.outages.Add(1)
	l.s.log.Warn("Redis unavailable: vendor rate limit falls back to this replica's share",
		"limiter", l.name, "replicas", l.s.n, "requests", l.share, "per", l.window, "err", err)
}

// trim drops grants older than one window; the caller holds l.mu.
func (l *Limiter) trim(now time.Time) {
	i := 0
	for i < len(l.recent) && now.Sub(l.recent[i].at) >= l.window {
		i++
	}
	l.recent = l.recent[i:]
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
