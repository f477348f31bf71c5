package simfault

import (
	"sync"
	"testing"
)

func TestNext(t *testing.T) {
	var f Next
	if _, ok := f.Take(); ok {
		t.Fatal("the zero value injected a failure")
	}
	f.Set(503, 2)
	for i := range 2 {
		if st, ok := f.Take(); !ok || st != 503 {
			t.Fatalf("take %d: %d %v, want 503", i, st, ok)
		}
	}
	if _, ok := f.Take(); ok {
		t.Error("a third failure after arming two")
	}
	f.Set(500, 3)
	f.Set(500, -1)
	if _, ok := f.Take(); ok {
		t.Error("a negative count did not cancel the pending failures")
	}
}

// TestNextConcurrent: concurrent requests take exactly the armed failures.
func TestNextConcurrent(t *testing.T) {
	var f Next
	f.Set(429, 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 200 {
		wg.Go(func() {
			if _, ok := f.Take(); ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != 50 {
		t.Errorf("%d failures taken, 50 armed", taken)
	}
}
