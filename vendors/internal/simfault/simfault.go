// Package simfault is the "fail the next n requests" switch the vendor
// simulators share: a test arms it, the simulator takes one failure per
// request until the run is spent.
package simfault

import "sync"

// Next is a run of injected failures: the next n requests answer one
// status. The zero value injects nothing; it is safe for concurrent use.
type Next struct {
	mu     sync.Mutex
	status int
	left   int
}

// Set arms n failures answering status; n <= 0 cancels those pending.
func (f *Next) Set(status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.left = status, max(n, 0)
}

// Take spends one pending failure and returns its status, or false when
// none is pending.
func (f *Next) Take() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 {
		return 0, false
	}
	f.left--
	return f.status, true
}
