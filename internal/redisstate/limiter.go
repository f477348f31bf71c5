package redisstate

import (
	"context"
	"fmt"
	"strconv"
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
	// Margin stretches every window, for the clocks of Redis and the
	// vendor, which run a little apart; Per/25 but at most 250 ms when zero
	// (40 ms of ESET's second, as its driver's local limiter).
	Margin time.Duration
	// Hold is how long a request admitted by a replica that then vanished
	// (killed before it could say its answer came) keeps counting: the
	// longest a vendor request can take. 2 minutes when zero.
	Hold time.Duration
	// Spacing is the least time between two admissions, so that a limit
	// is spread over its window rather than spent in one burst (a burst of
	// DLP's 60 a minute would meet its 5 in flight, and a vendor that
	// counts a request until its handler returns sees one more than the
	// client holds). (Per+Margin)/Limit when zero, as the drivers' local
	// pacing; negative for none.
	Spacing time.Duration
}

func (r Rate) spacing() time.Duration {
	switch {
	case r.Spacing < 0:
		return 0
	case r.Spacing == 0:
		// The window with its margin, spread: the rate stays the
		// bottleneck below a bound on requests in flight of the same
		// throughput (DLP's 5 at a second each), so a request freed a
		// slot does not leave the instant another's answer is read.
		return r.window() / time.Duration(max(r.Limit, 1))
	}
	return r.Spacing
}

func (r Rate) window() time.Duration {
	if r.Margin <= 0 {
		r.Margin = min(r.Per/25, 250*time.Millisecond)
	}
	return r.Per + r.Margin
}

func (r Rate) hold() time.Duration {
	if r.Hold <= 0 {
		return 2 * time.Minute
	}
	return r.Hold
}

// The shared schedule of one credential is a sorted set in Redis, on
// Redis's clock in µs: "p|id" is a request admitted and not yet answered,
// scored by when it may leave plus the hold (the latest it can still be
// counting); "f|id" is an answered one, scored by when its answer came.
// A request is admitted at the earliest when the Limit-th latest end is a
// window behind: any Limit+1 requests then span more than a window at the
// vendor, however late each was sent or read, because the vendor counted
// each one between its admission and its answer. An unanswered request
// among the latest Limit ends leaves the bound open: the new one waits for
// that answer (answer {2}).
//
// Admissions are also spread: KEYS[2] holds the earliest time the next
// one may leave (the last admission plus the spacing).
//
// admitScript: ARGV[1] limit, [2] window, [3] hold, [4] the longest wait the
// caller accepts, [5] the new request's id, [6] the spacing, [7] "1" when
// the request counts as answered once admitted (Wait). It returns
// {1, wait} for a place wait µs away, {0, wait} when the place is further
// than the caller can wait (nothing is reserved) and {2, 0} when an
// earlier answer is needed first.
var admitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window, hold, maxwait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - window))
local at = now
local nth = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
if #nth > 0 then
  local score = tonumber(nth[2])
  if string.sub(nth[1], 1, 2) == 'p|' and score > now then
    return {2, 0}
  end
  if score + window > at then at = score + window end
end
local spacing = tonumber(ARGV[6])
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if nxt > at then at = nxt end
local wait = at - now
if wait > maxwait then return {0, wait} end
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[1], at, 'f|' .. ARGV[5])
else
  redis.call('ZADD', KEYS[1], at + hold, 'p|' .. ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], math.floor((wait + hold + window) / 1000) + 1000)
if spacing > 0 then
  redis.call('SET', KEYS[2], string.format('%.0f', at + spacing), 'PX', math.floor((wait + spacing) / 1000) + 1000)
end
return {1, wait}
`)

// rejoinScript is a replica's first call after a Redis outage: it adds the
// replica's local requests of the last window to the shared schedule, as
// pairs of ARGV (id, age): answered age µs ago, or pending (age -1; ARGV[1]
// is the hold, ARGV[2] the window).
var rejoinScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold, window = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local age = tonumber(ARGV[i + 1])
  if age < 0 then
    redis.call('ZADD', KEYS[1], now + hold, 'p|' .. ARGV[i])
  else
    redis.call('ZADD', KEYS[1], now - age, 'f|' .. ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], math.floor((hold + window) / 1000) + 1000)
return 1
`)

// doneScript records that request ARGV[1] was answered (ARGV[2] = 1) or
// never left (0): the first counts from now on Redis's clock, the second
// is forgotten (pending, or admitted as answered).
var doneScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREM', KEYS[1], 'p|' .. ARGV[1])
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], now, 'f|' .. ARGV[1])
else
  redis.call('ZREM', KEYS[1], 'f|' .. ARGV[1])
end
return 1
`)

// Limiter is a vendor limit shared by every replica through Redis: a
// sliding window that counts each request from its admission until its
// answer came, as the drivers' local limiter does (httpx.WindowLimiter),
// with a local fallback while Redis is away. It satisfies driver.Limiter
// and the drivers' Admitter, through which the HTTP layer reports answers.
//
// The fallback lets each replica send at most Limit/N requests in any
// window (N independent limiters of Limit/N each could otherwise together
// put more into one window). It starts with the replica's own requests of
// the last window, so the switch adds nothing while the replicas shared
// the load evenly; when Redis returns, the local requests of the last
// window are added to the shared schedule first.
type Limiter struct {
	s      *Store
	name   string
	key    string
	limit  int
	window time.Duration
	hold   time.Duration
	// spacing is the least time between two admissions; on the fallback
	// each replica spaces its own by spacing × replicas.
	spacing time.Duration
	share   int // requests per window each replica allows itself on the fallback

	mu        sync.Mutex
	fallback  bool
	nextProbe time.Time
	probing   bool // a request is asking Redis whether it is back
	// lastLocal is when reserve last took a place of this replica's share.
	lastLocal time.Time
	// graceUntil ends the time after an outage in which this replica
	// keeps to its share although Redis answers again.
	graceUntil time.Time
	// recent are this replica's requests of the last window, in the order
	// they were admitted.
	recent []*request

	seq                               atomic.Uint64
	shared, granted, outages, waiting atomic.Uint64
}

// request is one admitted request, as this replica remembers it.
type request struct {
	id string
	// end is when the vendor may last have counted it: its admission
	// until answered, then its answer.
	end      time.Time
	answered bool
	local    bool // admitted by the fallback, not yet in the shared schedule
	inRedis  bool // in the shared schedule: its answer goes there too
}

// LimiterStats are a limiter's counters, for metrics.
type LimiterStats struct {
	Shared   uint64 // requests admitted through Redis
	Local    uint64 // requests admitted by the local fallback
	Outages  uint64 // times Redis was found away
	Fallback bool   // running on the local fallback now
	// Waited counts the times a request waited for an earlier one's
	// answer before it could be admitted (a slow vendor).
	Waited uint64
}

// Limiter returns the shared limiter of one vendor credential; name
// identifies the credential (an instance name), and every replica must use
// the same name and rate.
func (s *Store) Limiter(name string, r Rate) *Limiter {
	limit := max(r.Limit, 1)
	l := &Limiter{
		s: s, name: name, key: s.key("rate", name), limit: limit,
		window: r.window(), hold: r.hold(), spacing: r.spacing(), share: max(1, limit/s.n),
	}
	s.register("rate:"+name, l)
	return l
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	fb := l.fallback
	l.mu.Unlock()
	return LimiterStats{Shared: l.shared.Load(), Local: l.granted.Load(), Outages: l.outages.Load(), Fallback: fb, Waited: l.waiting.Load()}
}

// Wait blocks until the request may be sent and counts it as answered
// then: for callers that cannot report answers (a caller's request rate).
// It costs one Redis call, as Admit's done costs a second.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.admit(ctx, true)
	return err
}

// Admit blocks until the request may be sent; done must be called once its
// answer came or it failed. When the place is past ctx's deadline it fails
// at once, without taking the place.
func (l *Limiter) Admit(ctx context.Context) (done func(), err error) {
	r, err := l.admit(ctx, false)
	if err != nil {
		return nil, err
	}
	return l.doneFunc(r), nil
}

// admit takes a place; answered counts the request as answered at once.
func (l *Limiter) admit(ctx context.Context, answered bool) (*request, error) {
	poll := time.Millisecond
	for {
		if pre, probe, ok := l.tryShared(); ok {
			r, retry, err := l.tryRedis(ctx, pre, probe, answered)
			l.endProbe()
			if err != nil {
				return nil, err
			}
			if r != nil {
				return r, nil
			}
			if retry {
				// An earlier request's answer bounds this one: ask again
				// soon, a little later each time.
				l.waiting.Add(1)
				if err := sleep(ctx, poll); err != nil {
					return nil, fmt.Errorf("rate limit %s: waiting for an earlier request's answer (at most %d per %s): %w", l.name, l.limit, l.window, err)
				}
				poll = min(2*poll, 20*time.Millisecond)
				continue
			}
		}
		if l.onFallback() {
			r, next, ok := l.reserve(true)
			if ok {
				l.granted.Add(1)
				if answered {
					l.finish(r, true) // a local request: no Redis call
				}
				return r, nil
			}
			if err := l.sleepUntil(ctx, next); err != nil {
				return nil, err
			}
		}
	}
}

// tryRedis admits a request through Redis. While probing, or just back
// from an outage, the other replicas may still be on their fallback,
// sending their share unknown to Redis: the request then keeps to this
// replica's share too, and waits for a place in it first.
func (l *Limiter) tryRedis(ctx context.Context, pre []*request, probe, answered bool) (r *request, retry bool, err error) {
	if probe {
		// Probing: tell Redis this replica's requests of the fallback
		// first. A place in this replica's share may be most of a window
		// away, and recovery should not wait for it.
		if err := l.rejoin(ctx, pre); err != nil {
			if ctx.Err() != nil {
				return nil, false, fmt.Errorf("rate limit %s: %w", l.name, ctx.Err())
			}
			l.fallBack(err)
			return nil, false, nil
		}
	}
	var held *request
	for held == nil && l.inGrace() {
		r, next, ok := l.reserve(false)
		if ok {
			held = r
		} else if err := l.sleepUntil(ctx, next); err != nil {
			return nil, false, err
		}
	}
	return l.admitShared(ctx, held, answered)
}

func (l *Limiter) endProbe() {
	l.mu.Lock()
	l.probing = false
	l.mu.Unlock()
}

// sleepUntil sleeps until next, or fails at once when next is past ctx's
// deadline.
func (l *Limiter) sleepUntil(ctx context.Context, next time.Time) error {
	if dl, has := ctx.Deadline(); has && next.After(dl) {
		return fmt.Errorf("rate limit %s (this replica's share of %d per %s): the next free place is beyond the deadline: %w", l.name, l.share, l.window, context.DeadlineExceeded)
	}
	if err := sleep(ctx, max(time.Until(next), time.Millisecond)); err != nil {
		return fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	return nil
}

// admitShared asks Redis for a place and sleeps until it. held, when not
// nil, is a place this replica already took in its own share (after an
// outage), under whose id Redis records the request. It returns the
// request when admitted; retry when an earlier answer is needed first;
// neither when Redis could not answer and the limiter fell back.
func (l *Limiter) admitShared(ctx context.Context, held *request, answered bool) (r *request, retry bool, err error) {
	release := func() {
		if held != nil {
			l.finish(held, false)
		}
	}
	maxWait := time.Hour
	if dl, ok := ctx.Deadline(); ok {
		maxWait = time.Until(dl)
	}
	if maxWait <= 0 {
		release()
		return nil, false, fmt.Errorf("rate limit %s: %w", l.name, context.DeadlineExceeded)
	}
	r = held
	if r == nil {
		r = &request{id: l.newID()}
	}
	flag := "0"
	if answered {
		flag = "1"
	}
	now := time.Now()
	res, err := admitScript.Run(ctx, l.s.rdb, []string{l.key, l.key + ":next"}, l.limit, l.window.Microseconds(), l.hold.Microseconds(), maxWait.Microseconds(), r.id, l.spacing.Microseconds(), flag).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		release()
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("rate limit %s: %w", l.name, ctx.Err())
		}
		l.fallBack(err)
		return nil, false, nil
	}
	wait := time.Duration(res[1]) * time.Microsecond
	switch res[0] {
	case 2:
		release()
		return nil, true, nil
	case 0:
		release()
		return nil, false, fmt.Errorf("rate limit %s: the next free place is %s away, beyond the deadline: %w", l.name, wait.Round(time.Millisecond), context.DeadlineExceeded)
	}
	l.mu.Lock()
	r.end, r.inRedis = later(r.end, now.Add(wait)), true
	r.answered = r.answered || answered
	if held == nil {
		l.trim(now)
		l.recent = append(l.recent, r)
	}
	l.mu.Unlock()
	if err := sleep(ctx, wait); err != nil {
		l.finish(r, false)
		return nil, false, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	l.shared.Add(1)
	return r, false, nil
}

// rejoin adds pre, this replica's requests of the last window on its
// fallback, to the shared schedule; it is also the probe of Redis.
func (l *Limiter) rejoin(ctx context.Context, pre []*request) error {
	args := []any{l.hold.Microseconds(), l.window.Microseconds()}
	now := time.Now()
	var pending []*request
	l.mu.Lock()
	for _, p := range pre {
		age := int64(-1)
		if p.answered {
			age = max(now.Sub(p.end).Microseconds(), 0)
		} else {
			pending = append(pending, p)
		}
		args = append(args, p.id, age)
	}
	l.mu.Unlock()
	if err := rejoinScript.Run(ctx, l.s.rdb, []string{l.key}, args...).Err(); err != nil {
		return err
	}
	l.onRedis(pre)
	// A request answered while the script ran told only this replica:
	// tell Redis too, or it would count until its hold ends.
	for _, p := range pending {
		l.mu.Lock()
		answered := p.answered && !p.end.IsZero()
		l.mu.Unlock()
		if answered {
			_ = doneScript.Run(ctx, l.s.rdb, []string{l.key}, p.id, "1").Err()
		}
	}
	return nil
}

func (l *Limiter) newID() string {
	return l.s.instance + "." + strconv.FormatUint(l.seq.Add(1), 36)
}

func (l *Limiter) doneFunc(r *request) func() {
	var once sync.Once
	return func() { once.Do(func() { l.finish(r, true) }) }
}

// finish records r's answer (sent) or that it never left, here and, when
// r is in the shared schedule, in Redis. A failed write to Redis leaves r
// counting there until its hold ends: later, never sooner.
func (l *Limiter) finish(r *request, sent bool) {
	l.mu.Lock()
	r.answered = true
	if sent {
		r.end = later(r.end, time.Now())
	} else {
		r.end = time.Time{}
	}
	shared := r.inRedis
	l.mu.Unlock()
	if !shared {
		return
	}
	flag := "0"
	if sent {
		flag = "1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = doneScript.Run(ctx, l.s.rdb, []string{l.key}, r.id, flag).Err()
}

// tryShared tells whether to ask Redis: always while it answers, and once
// per probe interval while it is away. It also returns what the attempt
// adds to the shared schedule first: the local requests of the last window.
func (l *Limiter) tryShared() (pre []*request, probe, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fallback {
		return nil, false, true
	}
	now := time.Now()
	if now.Before(l.nextProbe) || l.probing {
		return nil, false, false
	}
	// One probe at a time; fallBack sets the next one when it fails.
	l.probing = true
	l.trim(now)
	for _, r := range l.recent {
		if r.local {
			pre = append(pre, r)
		}
	}
	return pre, true, true
}

// reserve takes a place in this replica's share when the request share
// places back was answered a window ago, else says when to try again (a
// place frees, or Redis is due a probe).
func (l *Limiter) reserve(local bool) (*request, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.trim(now)
	next := now
	if len(l.recent) >= l.share {
		ref := l.recent[len(l.recent)-l.share]
		next = now.Add(5 * time.Millisecond) // its answer is not in yet
		if ref.answered {
			next = ref.end.Add(l.window)
		}
	}
	next = later(next, l.lastLocal.Add(l.spacing*time.Duration(l.s.n)))
	if !next.After(now) {
		l.lastLocal = now
		r := &request{id: l.newID(), end: now, local: local}
		l.recent = append(l.recent, r)
		return r, now, true
	}
	if l.fallback && l.nextProbe.Before(next) {
		next = l.nextProbe
	}
	return nil, next, false
}

func (l *Limiter) onFallback() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fallback
}

func (l *Limiter) inGrace() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fallback || time.Now().Before(l.graceUntil)
}

// onRedis marks the shared schedule as answering again; the local
// requests it was given are now part of it.
func (l *Limiter) onRedis(pre []*request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range pre {
		r.local, r.inRedis = false, true
	}
	if !l.fallback {
		return
	}
	l.fallback = false
	// Every replica on its fallback probes Redis within a probe interval;
	// a window later their fallback requests no longer count.
	l.graceUntil = time.Now().Add(l.s.probe + l.window)
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

// trim forgets requests answered a window ago or that never left; the
// caller holds l.mu. Unanswered ones stay: they still count.
func (l *Limiter) trim(now time.Time) {
	keep := l.recent[:0]
	for _, r := range l.recent {
		if !r.answered || (!r.end.IsZero() && now.Sub(r.end) < l.window) {
			keep = append(keep, r)
		}
	}
	clear(l.recent[len(keep):])
	l.recent = keep
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
