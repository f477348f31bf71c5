package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
