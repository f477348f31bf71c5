package redisstate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Use records nonce as used until expires and reports whether this was its
// first use (incidents.NonceStore). SET NX is atomic, so of concurrent uses
// on any number of replicas exactly one gets true. When Redis cannot answer
// it returns an error and the caller writes nothing; a lost answer may make
// a first use look like a replay, never the other way round.
func (s *Store) Use(ctx context.Context, nonce string, expires time.Time) (bool, error) {
	// A confirmation past its expiry is refused by its signature check; still
	// remember it briefly rather than pass a TTL Redis would reject.
	if time.Until(expires) < time.Second {
		expires = time.Now().Add(time.Second)
	}
	ok, err := s.rdb.SetArgs(ctx, s.key("nonce", nonce), 1, redis.SetArgs{Mode: "NX", ExpireAt: expires}).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("confirmation store: %w", unavailable(err))
	}
	return ok == "OK", nil
}

// lockScript takes the lock KEYS[1] for ARGV[1] ms when it is free and
// returns the new fencing token, else 0. The token is one more than the last
// one and at least Redis's clock in microseconds, so it keeps growing even
// after a Redis without persistence restarts empty.
var lockScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local f = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if f < now then f = now end
local fs = string.format('%.0f', f)
redis.call('SET', KEYS[2], fs, 'PX', 86400000)
redis.call('SET', KEYS[1], fs, 'PX', ARGV[1])
return f
`)

// unlockScript deletes the lock only while it is still the caller's grant.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lock waits within ctx for the write lock on key and holds it for at most
// ttl (incidents.Locker), so a replica that crashes holding it blocks the
// key for ttl at most. fence grows with every grant. unlock releases the
// lock only if it is still this grant.
func (s *Store) Lock(ctx context.Context, key string, ttl time.Duration) (fence int64, unlock func(), err error) {
	lk, fk := s.key("lock", key), s.key("fence", key)
	ms := max(ttl.Milliseconds(), 1)
	backoff := 5 * time.Millisecond
	for {
		fence, err = lockScript.Run(ctx, s.rdb, []string{lk, fk}, ms).Int64()
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, fmt.Errorf("write lock %s: %w", key, ctx.Err())
			}
			return 0, nil, fmt.Errorf("write lock %s: %w", key, unavailable(err))
		}
		if fence > 0 {
			break
		}
		// Held by another write: poll with jitter, so waiters on several
		// replicas do not retry in step.
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("write lock %s: held by another write: %w", key, ctx.Err())
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
	var once sync.Once
	unlock = func() { once.Do(func() { s.unlock(ctx, key, lk, fence, ttl) }) }
	return fence, unlock, nil
}

func (s *Store) unlock(ctx context.Context, key, lk string, fence int64, ttl time.Duration) {
	// The caller's context may be done by now; release anyway.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := unlockScript.Run(rctx, s.rdb, []string{lk}, fence).Err(); err != nil {
		s.log.Warn("releasing a write lock failed; it expires on its own", "key", key, "ttl", ttl, "err", err)
	}
}

// PutOperation keeps the remainder of a bulk change until expires
// (incidents.OperationStore), beside the nonces of its items.
func (s *Store) PutOperation(ctx context.Context, id string, body []byte, expires time.Time) error {
	if time.Until(expires) < time.Second {
		expires = time.Now().Add(time.Second)
	}
	if err := s.rdb.SetArgs(ctx, s.key("op", id), body, redis.SetArgs{ExpireAt: expires}).Err(); err != nil {
		return fmt.Errorf("operation store: %w", unavailable(err))
	}
	return nil
}

// GetOperation returns what PutOperation kept, or nil when nothing is.
func (s *Store) GetOperation(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.key("op", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("operation store: %w", unavailable(err))
	}
	return b, nil
}
