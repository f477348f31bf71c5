package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/incident-mcp/incident-mcp/approval"
)

// approvalKeep is how long a request stays readable after it expires, as
// in approval.MemStore: a late page view still says "expired".
const approvalKeep = time.Hour

// Approvals is the approval.Store every replica shares: a request created
// on one replica is shown, decided and collected on any other. Each request
// is one key holding the whole approval.Request as JSON, so fields added to
// the type travel without a change here. Decisions are optimistic
// transactions (WATCH/MULTI) running approval.DecideRequest, the rules of
// the in-memory store: of concurrent decisions each sees the one before.
// That a decided change is applied once is the confirmation nonce's job
// (Store.Use), shared the same way.
type Approvals struct{ s *Store }

// Approvals returns the shared approval store.
func (s *Store) Approvals() *Approvals { return &Approvals{s} }

var _ approval.Store = (*Approvals)(nil)

func (a *Approvals) key(id string) string { return a.s.key("approval", id) }

// dedupKey holds the id of the request pending under one dedup name;
// ownerKey the ids of one requester's requests, scored by expiry (ms).
func (a *Approvals) dedupKey(dedup string) string { return a.s.key("approval-dedup", dedup) }

func (a *Approvals) ownerKey(requester string) string {
	sum := sha256.Sum256([]byte(requester)) // no caller names in key names
	return a.s.key("approval-owner", hex.EncodeToString(sum[:16]))
}

// maxOpenTries bounds the retries of an Open that lost a race.
const maxOpenTries = 20

// Open implements approval.Store: an optimistic transaction over the
// request's dedup name and its requester's set, so that of concurrent
// opens on any replicas each sees the ones before.
func (a *Approvals) Open(ctx context.Context, r *approval.Request, limit int) (*approval.Request, bool, error) {
	if r.ID == "" {
		return nil, false, errors.New("approval request without an id")
	}
	c := *r
	c.State = approval.StatePending
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, false, fmt.Errorf("approval store: %w", err)
	}
	owner := a.ownerKey(r.Requester.Key)
	watch := []string{owner}
	if r.Dedup != "" {
		watch = append(watch, a.dedupKey(r.Dedup))
	}
	for range maxOpenTries {
		var (
			got    *approval.Request
			reused bool
			refuse error
		)
		err := a.s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			if r.Dedup != "" {
				p, err := a.pendingUnder(ctx, tx, r.Dedup, r.Created)
				if err != nil {
					return err
				}
				if p != nil {
					got, reused = p, true
					return nil
				}
			}
			ids, err := tx.ZRangeArgs(ctx, redis.ZRangeArgs{Key: owner, ByScore: true, Start: strconv.FormatInt(r.Created.UnixMilli()+1, 10), Stop: "+inf"}).Result()
			if err != nil {
				return err
			}
			open := 0
			if len(ids) > 0 {
				keys := make([]string, len(ids))
				for i, id := range ids {
					keys[i] = a.key(id)
				}
				vals, err := tx.MGet(ctx, keys...).Result()
				if err != nil {
					return err
				}
				for _, v := range vals {
					b, ok := v.(string)
					if !ok {
						continue
					}
					if o, err := decodeRequest([]byte(b)); err == nil && o.StateAt(r.Created) == approval.StatePending {
						open++
					}
				}
			}
			if open >= limit {
				refuse = fmt.Errorf("%w: %d", approval.ErrTooMany, open)
				return nil
			}
			ttl := ttlUntil(r.Expires)
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, a.key(r.ID), body, ttl)
				if r.Dedup != "" {
					p.Set(ctx, a.dedupKey(r.Dedup), r.ID, ttl)
				}
				p.ZRemRangeByScore(ctx, owner, "-inf", strconv.FormatInt(r.Created.Add(-approvalKeep).UnixMilli(), 10))
				p.ZAdd(ctx, owner, redis.Z{Score: float64(r.Expires.UnixMilli()), Member: r.ID})
				p.Expire(ctx, owner, ttl)
				return nil
			})
			if err == nil {
				got = &c
			}
			return err
		}, watch...)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue // another open came first: count again
		case err != nil:
			return nil, false, fmt.Errorf("approval store: %w", unavailable(err))
		case refuse != nil:
			return nil, false, refuse
		}
		return got, reused, nil
	}
	return nil, false, errors.New("approval store: too many concurrent requests, try again")
}

// pendingUnder reads the request pending at now under dedup, or nil.
func (a *Approvals) pendingUnder(ctx context.Context, rdb redis.Cmdable, dedup string, now time.Time) (*approval.Request, error) {
	id, err := rdb.Get(ctx, a.dedupKey(dedup)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := rdb.Get(ctx, a.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := decodeRequest(b)
	if err != nil || p.StateAt(now) != approval.StatePending || p.Dedup != dedup {
		return nil, err
	}
	return p, nil
}

// Lookup implements approval.Store.
func (a *Approvals) Lookup(ctx context.Context, dedup string, now time.Time) (*approval.Request, error) {
	if dedup == "" {
		return nil, approval.ErrNotFound
	}
	p, err := a.pendingUnder(ctx, a.s.rdb, dedup, now)
	if err != nil {
		return nil, fmt.Errorf("approval store: %w", unavailable(err))
	}
	if p == nil {
		return nil, approval.ErrNotFound
	}
	return p, nil
}

// Create implements approval.Store.
func (a *Approvals) Create(ctx context.Context, r *approval.Request) error {
	if r.ID == "" {
		return errors.New("approval request without an id")
	}
	c := *r
	c.State = approval.StatePending
	b, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("approval store: %w", err)
	}
	ok, err := a.s.rdb.SetNX(ctx, a.key(r.ID), b, ttlUntil(r.Expires)).Result()
	if err != nil {
		return fmt.Errorf("approval store: %w", unavailable(err))
	}
	if !ok {
		return fmt.Errorf("approval request %s exists", r.ID)
	}
	return nil
}

// ttlUntil keeps a request until approvalKeep past its expiry.
func ttlUntil(expires time.Time) time.Duration {
	return max(time.Until(expires)+approvalKeep, time.Second)
}

// Get implements approval.Store.
func (a *Approvals) Get(ctx context.Context, id string) (*approval.Request, error) {
	b, err := a.s.rdb.Get(ctx, a.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, approval.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approval store: %w", unavailable(err))
	}
	return decodeRequest(b)
}

func decodeRequest(b []byte) (*approval.Request, error) {
	var r approval.Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("approval store: stored request: %w", err)
	}
	return &r, nil
}

// maxDecideTries bounds the retries of a decision that lost a race.
const maxDecideTries = 20

// Decide implements approval.Store.
func (a *Approvals) Decide(ctx context.Context, id string, d approval.Decision, approve bool) (*approval.Request, error) {
	key := a.key(id)
	for range maxDecideTries {
		var (
			out     *approval.Request
			decided error
		)
		err := a.s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				decided = approval.ErrNotFound
				return nil
			}
			if err != nil {
				return err
			}
			r, err := decodeRequest(b)
			if err != nil {
				return err
			}
			if out, decided = approval.DecideRequest(r, d, approve); decided != nil {
				return nil
			}
			nb, err := json.Marshal(r)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, nb, redis.KeepTTL)
				return nil
			})
			return err
		}, key)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue // another decision came first: decide on what it left
		case err != nil:
			return nil, fmt.Errorf("approval store: %w", unavailable(err))
		}
		return out, decided
	}
	return nil, fmt.Errorf("approval store: request %s: too many concurrent decisions, try again", id)
}

// The approvers' page sessions, so that an approver signed in on one
// replica is signed in on every one (no sticky routing needed). Keys hold a
// hash of the session id, never the id: the id is the cookie, a bearer
// secret, and a copy of Redis must not hand out live sessions.
var _ approval.SessionStore = (*Approvals)(nil)

func (a *Approvals) sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return a.s.key("approver-session", hex.EncodeToString(sum[:]))
}

// PutSession implements approval.SessionStore.
func (a *Approvals) PutSession(ctx context.Context, id string, s approval.Session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("approver sessions: %w", err)
	}
	if err := a.s.rdb.Set(ctx, a.sessionKey(id), b, max(time.Until(s.Expires), time.Second)).Err(); err != nil {
		return fmt.Errorf("approver sessions: %w", unavailable(err))
	}
	return nil
}

// Session implements approval.SessionStore.
func (a *Approvals) Session(ctx context.Context, id string, now time.Time) (*approval.Session, error) {
	b, err := a.s.rdb.Get(ctx, a.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, approval.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("approver sessions: %w", unavailable(err))
	}
	var s approval.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("approver sessions: stored session: %w", err)
	}
	if !now.Before(s.Expires) {
		return nil, approval.ErrNotFound
	}
	return &s, nil
}

// DeleteSession implements approval.SessionStore.
func (a *Approvals) DeleteSession(ctx context.Context, id string) error {
	if err := a.s.rdb.Del(ctx, a.sessionKey(id)).Err(); err != nil {
		return fmt.Errorf("approver sessions: %w", unavailable(err))
	}
	return nil
}

// The approval page's failed sign-ins, counted for every replica: an
// attacker gets the free tries once, not once per replica. Each key (an
// account, an address) is a hash of its failures in a row and the time
// before which it is refused; key names hold a hash, not the name.
var _ approval.SignInThrottle = (*Approvals)(nil)

func (a *Approvals) throttleKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return a.s.key("signin", hex.EncodeToString(sum[:16]))
}

// failScript counts a failure on KEYS[1] and returns the count; ARGV[1] is
// how long the key lives (ms).
var failScript = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
`)

// refuseScript raises the key's refused-until to ARGV[1] (ms), never lowers
// it: of two failures counted at once the later wait stands.
var refuseScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'until', ARGV[1]) end
return 1
`)

// signInMemory is how long a key's count lives after its last failure: the
// longest wait, then as long again.
const signInMemory = 10 * time.Minute

// SignInWait implements approval.SignInThrottle.
func (a *Approvals) SignInWait(ctx context.Context, keys []string, now time.Time) (time.Duration, error) {
	var w time.Duration
	for _, k := range keys {
		v, err := a.s.rdb.HGet(ctx, a.throttleKey(k), "until").Int64()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("sign-in counters: %w", unavailable(err))
		}
		if until := time.UnixMilli(v); now.Before(until) {
			w = max(w, until.Sub(now))
		}
	}
	return w, nil
}

// SignInResult implements approval.SignInThrottle.
func (a *Approvals) SignInResult(ctx context.Context, keys []string, ok bool, now time.Time) error {
	for _, k := range keys {
		key := a.throttleKey(k)
		if ok {
			if err := a.s.rdb.Del(ctx, key).Err(); err != nil {
				return fmt.Errorf("sign-in counters: %w", unavailable(err))
			}
			continue
		}
		n, err := failScript.Run(ctx, a.s.rdb, []string{key}, signInMemory.Milliseconds()).Int()
		if err != nil {
			return fmt.Errorf("sign-in counters: %w", unavailable(err))
		}
		if d := approval.SignInBackoff(n); d > 0 {
			if err := refuseScript.Run(ctx, a.s.rdb, []string{key}, now.Add(d).UnixMilli()).Err(); err != nil {
				return fmt.Errorf("sign-in counters: %w", unavailable(err))
			}
		}
	}
	return nil
}
