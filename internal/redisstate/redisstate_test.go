package redisstate_test

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

var (
	_ incidents.NonceStore = (*redisstate.Store)(nil)
	_ incidents.Locker     = (*redisstate.Store)(nil)
	_ driver.Limiter       = (*redisstate.Limiter)(nil)
	_ driver.Semaphore     = (*redisstate.Semaphore)(nil)
)

// replicas opens n stores on one Redis, each with its own connections, as
// n server processes would.
func replicas(t *testing.T, srv *redistest.Server, n int, o redisstate.Options) []*redisstate.Store {
	t.Helper()
	o.Replicas = n
	var out []*redisstate.Store
	for range n {
		s, err := redisstate.Open(srv.URL(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

func TestUseIsSingleAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{})
	for round := range 5 {
		nonce := fmt.Sprintf("nonce-%d", round)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				first, err := stores[i%3].Use(t.Context(), nonce, time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if got := firsts.Load(); got != 1 {
			t.Fatalf("round %d: %d of 60 concurrent uses were first, want exactly 1", round, got)
		}
	}
	// Another nonce is unaffected, and a use is remembered until expiry only.
	first, err := stores[0].Use(t.Context(), "short", time.Now().Add(1200*time.Millisecond))
	if err != nil || !first {
		t.Fatalf("fresh nonce: first=%v err=%v", first, err)
	}
	if first, _ := stores[1].Use(t.Context(), "short", time.Now().Add(time.Minute)); first {
		t.Fatal("a used nonce was first again before its expiry")
	}
	time.Sleep(1300 * time.Millisecond)
	if first, _ := stores[2].Use(t.Context(), "short", time.Now().Add(time.Minute)); !first {
		t.Fatal("a nonce was still remembered after its expiry")
	}
}

func TestGuardsRefuseWhileRedisIsDownAndRecover(t *testing.T) {
	srv := redistest.Start(t)
	s := replicas(t, srv, 1, redisstate.Options{})[0]
	if _, err := s.Use(t.Context(), "before", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	first, err := s.Use(t.Context(), "during", time.Now().Add(time.Minute))
	if !errors.Is(err, redisstate.ErrUnavailable) || first {
		t.Fatalf("Use with Redis down: first=%v err=%v, want an ErrUnavailable error", first, err)
	}
	if _, _, err := s.Lock(t.Context(), "eset:1", time.Second); !errors.Is(err, redisstate.ErrUnavailable) {
		t.Fatalf("Lock with Redis down: err=%v, want ErrUnavailable", err)
	}
	srv.Restart()
	first, err = s.Use(t.Context(), "during", time.Now().Add(time.Minute))
	if err != nil || !first {
		t.Fatalf("Use after Redis returned: first=%v err=%v", first, err)
	}
	if _, unlock, err := s.Lock(t.Context(), "eset:1", time.Second); err != nil {
		t.Fatalf("Lock after Redis returned: %v", err)
	} else {
		unlock()
	}
}

func TestLockSerializesWritesAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{})
	var (
		mu      sync.Mutex
		holders int
		peak    int
		fences  []int64
		counter int // incremented without atomics: only the lock protects it
	)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			fence, unlock, err := stores[i%3].Lock(t.Context(), "dlp:42", 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			holders++
			peak = max(peak, holders)
			fences = append(fences, fence)
			mu.Unlock()
			c := counter
			time.Sleep(2 * time.Millisecond)
			counter = c + 1
			mu.Lock()
			holders--
			mu.Unlock()
			unlock()
			unlock() // a second call is harmless
		})
	}
	wg.Wait()
	if peak != 1 || counter != 30 {
		t.Fatalf("peak holders %d, counter %d; want 1 and 30", peak, counter)
	}
	if !sort.SliceIsSorted(fences, func(i, j int) bool { return fences[i] < fences[j] }) {
		t.Fatalf("fencing tokens did not grow with each grant: %v", fences)
	}

	// A holder that crashes (never unlocks) blocks the key for its TTL only;
	// its late unlock does not release the next holder's lock.
	f1, staleUnlock, err := stores[0].Lock(t.Context(), "eset:7", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f2, unlock2, err := stores[1].Lock(t.Context(), "eset:7", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("second holder got the lock after %s, before the first one's TTL", waited)
	}
	if f2 <= f1 {
		t.Fatalf("fence %d after %d: not growing", f2, f1)
	}
	staleUnlock()
	ctx, cancel := contextWithTimeout(t, 200*time.Millisecond)
	defer cancel()
	if _, _, err := stores[2].Lock(ctx, "eset:7", time.Second); err == nil {
		t.Fatal("a stale unlock released the current holder's lock")
	}
	unlock2()

	// Fencing tokens keep growing across a Redis restart without persistence.
	srv.Restart()
	f3, unlock3, err := stores[2].Lock(t.Context(), "eset:7", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock3()
	if f3 <= f2 {
		t.Fatalf("fence %d after a Redis restart is not above %d", f3, f2)
	}
}

// TestOperationsAcrossReplicas: the remainder of a bulk change one replica
// keeps is read by another, and forgotten after its expiry.
func TestOperationsAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 2, redisstate.Options{})
	var _ incidents.OperationStore = stores[0]
	if err := stores[0].PutOperation(t.Context(), "op-1", []byte(`{"m":[]}`), time.Now().Add(1200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if b, err := stores[1].GetOperation(t.Context(), "op-1"); err != nil || string(b) != `{"m":[]}` {
		t.Fatalf("another replica reads %q, %v", b, err)
	}
	if b, err := stores[1].GetOperation(t.Context(), "op-2"); err != nil || b != nil {
		t.Fatalf("an unknown operation: %q, %v", b, err)
	}
	time.Sleep(1300 * time.Millisecond)
	if b, err := stores[0].GetOperation(t.Context(), "op-1"); err != nil || b != nil {
		t.Fatalf("an expired operation: %q, %v", b, err)
	}
}
