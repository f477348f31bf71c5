package httpx

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// WindowLimiter admits at most n requests in any span of window: a sliding
// window, as a vendor that counts "10 requests per second" counts them.
// A token bucket cannot promise that (a bucket of rate n/window and burst b
// admits b + n − 1 in some window). Each request reserves the earliest time
// that keeps the promise, which is a window after the n-th request before
// it, so concurrent callers queue in order without waking each other.
type WindowLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	mu sync.Mutex
	// times are the reserved send times that may still count against a
	// request, oldest first, and first is the sequence number of times[0].
	// A time a window old is dropped: a limit of a million a second then
	// costs memory for the requests really made, not for a million.
	times []time.Time
	first uint64
}

// NewWindowLimiter admits n requests per window, each window stretched by
// margin: requests reach the vendor after delays that differ a little from
// one to the next, and the margin absorbs that so the vendor's own window
// never sees n+1. now and sleep may be nil (the real clock).
func NewWindowLimiter(n int, window, margin time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *WindowLimiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = wire.Sleep
	}
	return &WindowLimiter{n: max(n, 1), window: window + margin, now: now, sleep: sleep}
}

// Wait blocks until the request may leave. When that time is past ctx's
// deadline it fails at once, without taking the place.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	drop := 0
	for drop < len(l.times) && !l.times[drop].Add(l.window).After(now) {
		drop++
	}
	l.times, l.first = l.times[drop:], l.first+uint64(drop)
	at := now
	if len(l.times) >= l.n {
		at = later(now, l.times[len(l.times)-l.n].Add(l.window))
	}
	if dl, ok := ctx.Deadline(); ok && at.After(dl) {
		l.mu.Unlock()
		return fmt.Errorf("the next request may leave at %s (at most %d per %s), after this call's deadline: %w",
			at.UTC().Format(time.RFC3339Nano), l.n, l.window, context.DeadlineExceeded)
	}
	seq := l.first + uint64(len(l.times))
	l.times = append(l.times, at)
	l.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
		// A wake-up later than the place (a busy CPU) moves the place to
		// when the request really leaves, unless a later request already
		// counted from it.
		l.mu.Lock()
		if seq >= l.first {
			if i := seq - l.first; i < uint64(len(l.times)) && l.times[i].Equal(at) {
				l.times[i] = later(at, l.now())
			}
		}
		l.mu.Unlock()
	}
	return ctx.Err()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
