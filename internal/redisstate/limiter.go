package redisstate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Rate is a vendor limit: at most Limit requests in any window of length Per
// (ESET: 10 per second; Cyberhaven DLP: 60 per minute).
type Rate struct {
	Limit int
	Per   time.Duration
	// Slack is how much later one request may reach the vendor than one
	// granted before it (scheduling, network) without the vendor seeing more
	// than Limit in a window; Per/16 but at most 250ms when zero. Grants
	// are spaced (Per+Slack)/Limit apart, so the limiter reaches
	// Per/(Per+Slack) of the limit: 94 % of 10/s, 99.6 % of 60/min.
	Slack time.Duration
}

func (r Rate) interval() time.Duration {
	if r.Slack <= 0 {
		r.Slack = min(r.Per/16, 250*time.Millisecond)
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
// local fallback at 1/N of the rate while Redis is away.
type Limiter struct {
	s      *Store
	name   string
	key    string
	every  time.Duration
	window time.Duration

	mu        sync.Mutex
	local     *rate.Limiter // non-nil while Redis is away
	nextProbe time.Time
	// localGrants are the local grants of the last window, added to the
	// shared schedule when Redis returns so the vendor does not see both.
	localGrants []time.Time

	shared, granted, outages atomic.Uint64
}

// LimiterStats are a limiter's counters, for metrics.
type LimiterStats struct {
	Shared   uint64 // slots granted through Redis
	Local    uint64 // slots granted by the local fallback
	Outages  uint64 // times Redis was found away
	Fallback bool   // running on the local fallback now
}

// Limiter returns the shared limiter of one vendor credential; name
// identifies the credential (an instance name), and every replica must use
// the same name and rate.
func (s *Store) Limiter(name string, r Rate) *Limiter {
	every := r.interval()
	return &Limiter{s: s, name: name, key: s.key("rate", name), every: every, window: every * time.Duration(max(r.Limit, 1))}
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	fb := l.local != nil
	l.mu.Unlock()
	return LimiterStats{Shared: l.shared.Load(), Local: l.granted.Load(), Outages: l.outages.Load(), Fallback: fb}
}

// Wait blocks until the request may be sent, or returns an error when the
// next slot is beyond ctx's deadline.
func (l *Limiter) Wait(ctx context.Context) error {
	if pre, ok := l.tryShared(); ok {
		maxWait := time.Hour
		if dl, ok := ctx.Deadline(); ok {
			maxWait = time.Until(dl)
		}
		if maxWait <= 0 {
			return fmt.Errorf("rate limit %s: %w", l.name, context.DeadlineExceeded)
		}
		res, err := gcraScript.Run(ctx, l.s.rdb, []string{l.key}, l.every.Microseconds(), maxWait.Microseconds(), pre.Microseconds()).Int64Slice()
		if err == nil && len(res) == 2 {
			l.onRedis()
			wait := time.Duration(res[1]) * time.Microsecond
			if res[0] == 0 {
				return fmt.Errorf("rate limit %s: the next free slot is %s away, beyond the deadline", l.name, wait.Round(time.Millisecond))
			}
			l.shared.Add(1)
			return sleep(ctx, wait)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			err = fmt.Errorf("unexpected answer %v", res)
		}
		l.fallBack(err)
	}
	return l.waitLocal(ctx)
}

// tryShared tells whether to ask Redis: always while it answers, and once
// per probe interval while it is away. It also returns the precharge the
// attempt carries.
func (l *Limiter) tryShared() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local == nil {
		return 0, true
	}
	now := time.Now()
	if now.Before(l.nextProbe) {
		return 0, false
	}
	l.nextProbe = now.Add(l.s.probe)
	l.trim(now)
	return time.Duration(len(l.localGrants)) * l.every, true
}

func (l *Limiter) onRedis() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local == nil {
		return
	}
	l.local, l.localGrants = nil, nil
	l.s.log.Info("shared rate limit back on Redis", "limiter", l.name)
}

func (l *Limiter) fallBack(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextProbe = time.Now().Add(l.s.probe)
	if l.local != nil {
		return
	}
	l.outages.Add(1)
	l.local = rate.NewLimiter(rate.Every(l.every*time.Duration(l.s.n)), 1)
	// Start empty: the shared schedule may have granted a slot just now.
	l.local.Reserve()
	l.s.log.Warn("Redis unavailable: vendor rate limit falls back to this replica's share",
		"limiter", l.name, "replicas", l.s.n, "per_second", 1/(l.every*time.Duration(l.s.n)).Seconds(), "err", err)
}

func (l *Limiter) waitLocal(ctx context.Context) error {
	l.mu.Lock()
	lim := l.local
	l.mu.Unlock()
	if lim == nil { // Redis came back meanwhile
		return l.Wait(ctx)
	}
	if err := lim.Wait(ctx); err != nil {
		return fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	l.granted.Add(1)
	l.mu.Lock()
	now := time.Now()
	l.trim(now)
	l.localGrants = append(l.localGrants, now)
	l.mu.Unlock()
	return nil
}

// trim drops local grants older than one window; the caller holds l.mu.
func (l *Limiter) trim(now time.Time) {
	i := 0
	for i < len(l.localGrants) && now.Sub(l.localGrants[i]) > l.window {
		i++
	}
	l.localGrants = l.localGrants[i:]
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
