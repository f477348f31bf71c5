package redisstate

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript takes one of ARGV[2] slots in the sorted set KEYS[1] for
// holder ARGV[1], leased for ARGV[3] ms: members are holders, scores their
// lease ends on Redis's clock. Expired leases are dropped first.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
  return 1
end
return 0
`)

// renewScript extends a held lease; it returns 0 when the lease was lost.
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return n
`)

// Semaphore is a driver.Semaphore shared by every replica through Redis:
// at most Slots requests of one vendor credential in flight across all of
// them. While Redis is away each replica allows itself Slots/N (at least
// one).
type Semaphore struct {
	s     *Store
	name  string
	key   string
	slots int

	mu        sync.Mutex
	local     chan struct{} // non-nil while Redis is away
	nextProbe time.Time

	shared, granted, outages atomic.Uint64
}

// Semaphore returns the shared semaphore of one vendor credential.
func (s *Store) Semaphore(name string, slots int) *Semaphore {
	m := &Semaphore{s: s, name: name, key: s.key("sem", name), slots: max(slots, 1)}
	s.register("sem:"+name, m)
	return m
}

// Stats returns the counters (Shared and Local count acquisitions).
func (m *Semaphore) Stats() LimiterStats {
	m.mu.Lock()
	fb := m.local != nil
	m.mu.Unlock()
	return LimiterStats{Shared: m.shared.Load(), Local: m.granted.Load(), Outages: m.outages.Load(), Fallback: fb}
}

// Acquire blocks within ctx for a slot; release must be called once.
func (m *Semaphore) Acquire(ctx context.Context) (release func(), err error) {
	backoff := 5 * time.Millisecond
	for {
		local, probe := m.mode()
		if local == nil || probe {
			holder := rand.Text()
			got, err := acquireScript.Run(ctx, m.s.rdb, []string{m.key}, holder, m.slots, m.s.lease.Milliseconds()).Int()
			if err == nil {
				m.onRedis()
				if got == 1 {
					m.shared.Add(1)
					return m.hold(ctx, holder), nil
				}
				// Every slot is taken: poll with jitter, so waiters on
				// several replicas do not retry in step.
				if err := sleep(ctx, backoff/2+mrand.N(backoff)); err != nil {
					return nil, fmt.Errorf("concurrency limit %s: %w", m.name, err)
				}
				backoff = min(2*backoff, 50*time.Millisecond)
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("concurrency limit %s: %w", m.name, ctx.Err())
			}
			local = m.fallBack(err)
		}
		probeIn := time.NewTimer(m.s.probe)
		select {
		case local <- struct{}{}:
			probeIn.Stop()
			m.granted.Add(1)
			var once sync.Once
			return func() { once.Do(func() { <-local }) }, nil
		case <-ctx.Done():
			probeIn.Stop()
			return nil, fmt.Errorf("concurrency limit %s: %w", m.name, ctx.Err())
		case <-probeIn.C:
		}
	}
}

// mode returns the local fallback (nil while on Redis) and whether this
// caller should probe Redis now.
func (m *Semaphore) mode() (chan struct{}, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.local == nil {
		return nil, false
	}
	now := time.Now()
	if now.Before(m.nextProbe) {
		return m.local, false
	}
	m.nextProbe = now.Add(m.s.probe)
	return m.local, true
}

func (m *Semaphore) onRedis() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.local != nil {
		// Local holders release into the old channel; it is dropped with them.
		m.local = nil
		m.s.log.Info("shared concurrency limit back on Redis", "semaphore", m.name)
	}
}

func (m *Semaphore) fallBack(err error) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextProbe = time.Now().Add(m.s.probe)
	if m.local == nil {
		m.outages.Add(1)
		n := max(1, m.slots/m.s.n)
		m.local = make(chan struct{}, n)
		m.s.log.Warn("Redis unavailable: vendor concurrency limit falls back to this replica's share",
			"semaphore", m.name, "replicas", m.s.n, "slots", n, "err", err)
	}
	return m.local
}

// hold keeps the lease alive until release.
func (m *Semaphore) hold(ctx context.Context, holder string) func() {
	done := make(chan struct{})
	bg := context.WithoutCancel(ctx)
	go func() {
		t := time.NewTicker(m.s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(bg, time.Second)
				err := renewScript.Run(rctx, m.s.rdb, []string{m.key}, holder, m.s.lease.Milliseconds()).Err()
				cancel()
				if err != nil {
					m.s.log.Warn("renewing a concurrency slot failed", "semaphore", m.name, "err", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			rctx, cancel := context.WithTimeout(bg, 2*time.Second)
			defer cancel()
			if err := m.s.rdb.ZRem(rctx, m.key, holder).Err(); err != nil {
				m.s.log.Warn("releasing a concurrency slot failed; its lease expires on its own", "semaphore", m.name, "lease", m.s.lease, "err", err)
			}
		})
	}
}
