package incidents

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryNoncesSingleUse(t *testing.T) {
	m := NewMemoryNonces()
	exp := time.Now().Add(time.Minute)
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if first, err := m.Use(t.Context(), "n1", exp); err != nil {
				t.Error(err)
			} else if first {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d first uses of one nonce, want 1", firsts.Load())
	}
	if first, _ := m.Use(t.Context(), "n2", exp); !first {
		t.Error("another nonce was taken as used")
	}
}

func TestMemoryNoncesPrune(t *testing.T) {
	m := NewMemoryNonces()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	for _, n := range []string{"a", "b", "c"} {
		m.Use(t.Context(), n, now.Add(5*time.Minute))
	}
	m.Use(t.Context(), "late", now.Add(time.Hour))
	now = now.Add(10 * time.Minute)
	if first, _ := m.Use(t.Context(), "d", now.Add(time.Minute)); !first {
		t.Fatal("fresh nonce refused")
	}
	if got := m.Len(); got != 2 {
		t.Errorf("%d nonces kept after their expiry passed, want 2 (late, d)", got)
	}
	if first, _ := m.Use(t.Context(), "late", now.Add(time.Hour)); first {
		t.Error("an unexpired nonce was forgotten")
	}
}

func TestMemoryLockerSerializes(t *testing.T) {
	l := NewMemoryLocker()
	var inside, most atomic.Int32
	var last atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fence, unlock, err := l.Lock(t.Context(), "k", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			if n := inside.Add(1); n > most.Load() {
				most.Store(n)
			}
			if prev := last.Swap(fence); fence <= prev {
				t.Errorf("fence %d after %d", fence, prev)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once", most.Load())
	}
	// Other keys do not wait.
	_, unlock, _ := l.Lock(t.Context(), "k", time.Minute)
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, u, err := l.Lock(ctx, "other", time.Minute); err != nil {
		t.Errorf("another key: %v", err)
	} else {
		u()
	}
}

func TestMemoryLockerContextAndLease(t *testing.T) {
	l := NewMemoryLocker()
	f1, unlock1, err := l.Lock(t.Context(), "k", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := l.Lock(ctx, "k", time.Minute); err == nil {
		t.Fatal("a held lock was granted twice")
	}
	// The holder outlives its lease: the next waiter takes over, fenced higher.
	f2, unlock2, err := l.Lock(t.Context(), "k", time.Minute)
	if err != nil || f2 <= f1 {
		t.Fatalf("take over: fence %d after %d, %v", f2, f1, err)
	}
	unlock1() // stale: must not free the new holder's lock
	ctx2, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	if _, _, err := l.Lock(ctx2, "k", time.Minute); err == nil {
		t.Fatal("a stale unlock released the current holder's lock")
	}
	unlock2()
	unlock2() // safe twice
	if _, u, err := l.Lock(t.Context(), "k", time.Minute); err != nil {
		t.Fatal(err)
	} else {
		u()
	}
	if len(l.locks) != 0 {
		t.Errorf("%d idle locks kept", len(l.locks))
	}
}
