package redisstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sessions is the MCP session registry every replica shares
// (httpserve.SessionStore): which principal created each session id, and
// how many sessions each principal holds open.
type Sessions struct{ s *Store }

// Sessions returns the shared session registry.
func (s *Store) Sessions() *Sessions { return &Sessions{s} }

// reserveSessionScript adds session ARGV[3] to the owner's set KEYS[1]
// (members scored by expiry, in ms) unless it already holds ARGV[1] live
// sessions (0: no cap). ARGV[2] is the TTL in ms. Only the owner's set is
// touched, so the script runs on one Redis Cluster slot.
var reserveSessionScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(ARGV[1])
if cap > 0 and redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// touchSessionScript returns the owner of session KEYS[1] and extends it
// and its entry in the owner's set by ARGV[1] ms.
var touchSessionScript = redis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
local ttl = tonumber(ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return owner
`)

// Create implements httpserve.SessionStore: a slot in the owner's set
// (the cap's count), then the session's own key. A slot whose session key
// was never written expires with the TTL.
func (r *Sessions) Create(ctx context.Context, id, owner string, max int, ttl time.Duration) (bool, error) {
	if max < 0 {
		max = 0
	}
	n, err := reserveSessionScript.Run(ctx, r.s.rdb, []string{r.s.key("sessions-of", owner)}, max, ttl.Milliseconds(), id).Int()
	if err != nil {
		return false, fmt.Errorf("session store: %w", unavailable(err))
	}
	if n != 1 {
		return false, nil
	}
	if err := r.s.rdb.Set(ctx, r.s.key("session", id), owner, ttl).Err(); err != nil {
		return false, fmt.Errorf("session store: %w", unavailable(err))
	}
	return true, nil
}

// Owner implements httpserve.SessionStore.
func (r *Sessions) Owner(ctx context.Context, id string, ttl time.Duration) (string, error) {
	owner, err := touchSessionScript.Run(ctx, r.s.rdb, []string{r.s.key("session", id)}, ttl.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("session store: %w", unavailable(err))
	}
	if owner != "" {
		// The owner's count follows the session's life (this replica's
		// clock: a skew of seconds only shifts when a slot frees).
		until := time.Now().Add(ttl).UnixMilli()
		r.s.rdb.ZAddXX(ctx, r.s.key("sessions-of", owner), redis.Z{Score: float64(until), Member: id})
		r.s.rdb.PExpire(ctx, r.s.key("sessions-of", owner), ttl)
	}
	return owner, nil
}

// Delete implements httpserve.SessionStore.
func (r *Sessions) Delete(ctx context.Context, id string) error {
	key := r.s.key("session", id)
	owner, err := r.s.rdb.GetDel(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session store: %w", unavailable(err))
	}
	if err := r.s.rdb.ZRem(ctx, r.s.key("sessions-of", owner), id).Err(); err != nil {
		return fmt.Errorf("session store: %w", unavailable(err))
	}
	return nil
}
