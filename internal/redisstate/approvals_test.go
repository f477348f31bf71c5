package redisstate_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/internal/httpserve"
	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
	"github.com/incident-mcp/incident-mcp/schema"
)

var (
	_ approval.Store         = (*redisstate.Approvals)(nil)
	_ httpserve.SessionStore = (*redisstate.Sessions)(nil)
)

func newApproval(required int) *approval.Request {
	now := time.Now()
	return &approval.Request{
		ID: approval.NewID(), Incident: &schema.Incident{ID: "eset:1", Title: "t"}, Token: "sealed",
		Patch:     schema.Patch{Title: new("renamed")},
		Requester: approval.Requester{Client: "c", Session: "s", Caller: "ann"},
		Created:   now, Expires: now.Add(10 * time.Minute), Required: required,
	}
}

// TestApprovalsAcrossReplicas: a request created on one replica is read and
// decided on the others, with the in-memory store's rules.
func TestApprovalsAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	st := replicas(t, srv, 3, redisstate.Options{})
	a, b, c := st[0].Approvals(), st[1].Approvals(), st[2].Approvals()
	ctx := t.Context()

	r := newApproval(2)
	if err := a.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, r); err == nil {
		t.Error("a second Create with the same id succeeded")
	}
	got, err := b.Get(ctx, r.ID)
	if err != nil || got.Requester != r.Requester || got.Token != "sealed" || *got.Patch.Title != "renamed" || got.State != approval.StatePending {
		t.Fatalf("read on B: %+v %v", got, err)
	}
	now := time.Now()
	if _, err := b.Decide(ctx, r.ID, approval.Decision{By: "bob", At: now}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decide(ctx, r.ID, approval.Decision{By: "bob", At: now}, true); !errors.Is(err, approval.ErrSameApprover) {
		t.Errorf("same approver on another replica: %v", err)
	}
	got, err = c.Decide(ctx, r.ID, approval.Decision{By: "carol", At: now}, true)
	if err != nil || got.StateAt(now) != approval.StateApproved {
		t.Fatalf("second approver: %v %v", got, err)
	}
	if _, err := a.Decide(ctx, r.ID, approval.Decision{By: "dave", At: now}, false); !errors.Is(err, approval.ErrDecided) {
		t.Errorf("reject after approval: %v", err)
	}
	if got, _ := a.Get(ctx, r.ID); len(got.Approvals) != 2 || got.Rejection != nil {
		t.Errorf("on A after all: %+v", got)
	}
	if _, err := a.Get(ctx, "no-such-id"); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := a.Decide(ctx, "no-such-id", approval.Decision{By: "x", At: now}, true); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("decide unknown id: %v", err)
	}
}

// TestApprovalDecisionsAreAtomic: of many approvers racing on three
// replicas for a request that needs two, exactly two approvals are
// recorded and every other decision is refused as already decided.
func TestApprovalDecisionsAreAtomic(t *testing.T) {
	srv := redistest.Start(t)
	st := replicas(t, srv, 3, redisstate.Options{})
	for round := range 5 {
		r := newApproval(2)
		if err := st[0].Approvals().Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			ok, decided     int
			rejectedByRules int
		)
		for i := range 30 {
			wg.Go(func() {
				_, err := st[i%3].Approvals().Decide(t.Context(), r.ID, approval.Decision{By: fmt.Sprintf("approver-%d", i), At: time.Now()}, i%7 != 3)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, approval.ErrDecided):
					decided++
				default:
					rejectedByRules++
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := st[1].Approvals().Get(t.Context(), r.ID)
		accepted := len(got.Approvals)
		if got.Rejection != nil {
			accepted++
		}
		if ok != accepted || ok+decided != 30 || got.StateAt(time.Now()) == approval.StatePending {
			t.Errorf("round %d: %d accepted, %d refused as decided, stored %+v", round, ok, decided, got)
		}
	}
}

func TestSessionsSharedAndCapped(t *testing.T) {
	srv := redistest.Start(t)
	st := replicas(t, srv, 2, redisstate.Options{})
	a, b := st[0].Sessions(), st[1].Sessions()
	ctx := t.Context()
	for i := range 3 {
		if ok, err := a.Create(ctx, fmt.Sprint("s", i), "token:ann", 3, time.Minute); !ok || err != nil {
			t.Fatalf("create %d: %v %v", i, ok, err)
		}
	}
	if ok, err := b.Create(ctx, "s3", "token:ann", 3, time.Minute); ok || err != nil {
		t.Errorf("fourth session of a capped principal on another replica: %v %v", ok, err)
	}
	if ok, _ := b.Create(ctx, "t0", "token:bob", 3, time.Minute); !ok {
		t.Error("another principal is capped by ann's sessions")
	}
	if owner, err := b.Owner(ctx, "s1", time.Minute); owner != "token:ann" || err != nil {
		t.Errorf("owner on B: %q %v", owner, err)
	}
	if err := b.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if owner, _ := a.Owner(ctx, "s1", time.Minute); owner != "" {
		t.Errorf("deleted session still owned by %q", owner)
	}
	if ok, _ := a.Create(ctx, "s4", "token:ann", 3, time.Minute); !ok {
		t.Error("a deleted session still counts against the cap")
	}
	if owner, _ := a.Owner(ctx, "never-issued", time.Minute); owner != "" {
		t.Errorf("never-issued id owned by %q", owner)
	}
}

// openAll runs store.Open for every request at once, one goroutine each,
// and returns how many were stored new, reused and refused.
func openAll(t *testing.T, stores []*redisstate.Approvals, reqs []*approval.Request, limit int) (created, reused, refused int, ids map[string]bool) {
	t.Helper()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	ids = map[string]bool{}
	for i, r := range reqs {
		wg.Go(func() {
			got, re, err := stores[i%len(stores)].Open(t.Context(), r, limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, approval.ErrTooMany):
				refused++
			case err != nil:
				t.Error(err)
			case re:
				reused++
				ids[got.ID] = true
			default:
				created++
				ids[got.ID] = true
			}
		})
	}
	wg.Wait()
	return created, reused, refused, ids
}

// The same change asked on three replicas at once is one approval request,
// and a principal's cap of pending requests holds across the replicas: an
// attacker spreading requests over replicas gets no more than the cap.
func TestApprovalsDedupAndCapAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	st := replicas(t, srv, 3, redisstate.Options{})
	stores := []*redisstate.Approvals{st[0].Approvals(), st[1].Approvals(), st[2].Approvals()}

	same := make([]*approval.Request, 30)
	for i := range same {
		same[i] = newApproval(1)
		same[i].Requester.Key = "token:ann"
		same[i].Dedup = "ann/eset:1/renamed"
	}
	created, reused, refused, ids := openAll(t, stores, same, 5)
	if created != 1 || reused != 29 || refused != 0 || len(ids) != 1 {
		t.Errorf("30 identical requests over 3 replicas: %d created, %d reused, %d refused, %d ids; want 1 request", created, reused, refused, len(ids))
	}

	distinct := make([]*approval.Request, 30)
	for i := range distinct {
		distinct[i] = newApproval(1)
		distinct[i].Requester.Key = "token:mallory"
		distinct[i].Dedup = fmt.Sprintf("mallory/eset:%d", i)
	}
	created, _, refused, _ = openAll(t, stores, distinct, 5)
	if created != 5 || refused != 25 {
		t.Errorf("30 distinct requests of one principal over 3 replicas, cap 5: %d created, %d refused; want 5 and 25", created, refused)
	}
	// Another principal is not held to mallory's cap.
	other := newApproval(1)
	other.Requester.Key = "token:bob"
	if _, _, err := stores[2].Open(t.Context(), other, 5); err != nil {
		t.Errorf("bob refused because of mallory's requests: %v", err)
	}
	// A decided request leaves the cap and its dedup name.
	for _, r := range distinct {
		if _, err := stores[0].Get(t.Context(), r.ID); err == nil {
			if _, err := stores[1].Decide(t.Context(), r.ID, approval.Decision{By: "carol", At: time.Now()}, false); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	again := newApproval(1)
	again.Requester.Key = "token:mallory"
	again.Dedup = "mallory/new"
	if _, re, err := stores[1].Open(t.Context(), again, 5); err != nil || re {
		t.Errorf("after one rejection mallory should have room for one more: reused %v, %v", re, err)
	}
	if got, err := stores[2].Lookup(t.Context(), "ann/eset:1/renamed", time.Now()); err != nil || !ids[got.ID] {
		t.Errorf("Lookup of ann's pending change on another replica: %v %v", got, err)
	}
}
