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
// admits b + n − 1 in some window).
//
// The promise holds at the vendor, not only at the limiter, however late
// requests leave or arrive (a starved process that wakes a waiter or
// writes the request tens of milliseconds late, a vendor that reads it
// late): a request counts from when it is admitted until its answer came,
// and the n-th request after it is admitted only a window after that. The
// vendor counted the request somewhere between the two, so any n + 1 of
// them it counts span more than a window. The cost is throughput: n
// requests per window plus one answer's latency. Do reports answers
// through Admit's done; Wait, for callers that cannot, counts a request as
// answered when it is admitted.
type WindowLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	mu sync.Mutex
	// slots are the requests that may still count against a new one,
	// oldest first. A slot a window past its end is dropped: a limit of a
	// million a second then costs memory for the requests really made,
	// not for a million.
	slots []*slot
}

// slot is one admitted request: end is when the vendor may last have
// counted it (its admission time until done, then when done was called).
type slot struct {
	end      time.Time
	answered chan struct{} // closed by done
	finished bool
}

// NewWindowLimiter admits n requests per window, each window stretched by
// margin, for the clocks of this host and the vendor's, which run a little
// apart. now and sleep may be nil (the real clock).
func NewWindowLimiter(n int, window, margin time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *WindowLimiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = wire.Sleep
	}
	return &WindowLimiter{n: max(n, 1), window: window + margin, now: now, sleep: sleep}
}

// Wait blocks until the request may leave and counts it as answered then.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	done, err := l.Admit(ctx)
	if err == nil {
		done()
	}
	return err
}

// Admit blocks until the request may leave; done must be called once its
// answer came (or it failed). When the place is past ctx's deadline it
// fails at once, without taking the place.
func (l *WindowLimiter) Admit(ctx context.Context) (done func(), err error) {
	for {
		l.mu.Lock()
		now := l.now()
		drop := 0
		for drop < len(l.slots) && l.slots[drop].finished && !l.slots[drop].end.Add(l.window).After(now) {
			drop++
		}
		l.slots = l.slots[drop:]
		at := now
		if len(l.slots) >= l.n {
			ref := l.slots[len(l.slots)-l.n]
			if !ref.finished {
				// The request n places back is not answered yet: its
				// answer bounds when this one may leave.
				l.mu.Unlock()
				select {
				case <-ref.answered:
					continue
				case <-ctx.Done():
					return nil, fmt.Errorf("waiting for an earlier request's answer (at most %d per %s): %w", l.n, l.window, ctx.Err())
				}
			}
			at = later(now, ref.end.Add(l.window))
		}
		if dl, ok := ctx.Deadline(); ok && at.After(dl) {
			l.mu.Unlock()
			return nil, fmt.Errorf("the next request may leave at %s (at most %d per %s), after this call's deadline: %w",
				at.UTC().Format(time.RFC3339Nano), l.n, l.window, context.DeadlineExceeded)
		}
		s := &slot{end: at, answered: make(chan struct{})}
		l.slots = append(l.slots, s)
		l.mu.Unlock()
		done = func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if !s.finished {
				s.end, s.finished = later(s.end, l.now()), true
				close(s.answered)
			}
		}
		if d := at.Sub(now); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				done()
				return nil, err
			}
		}
		if err := ctx.Err(); err != nil {
			done()
			return nil, err
		}
		return done, nil
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
