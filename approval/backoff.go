package approval

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Sign-in backoff: after freeFailures wrong passwords in a row for one
// account, or from one address, further attempts are refused outright (the
// right password included) until a wait that doubles with each failure, up
// to maxBackoff. A success clears the account's and the address's count.
const (
	freeFailures = 3
	baseBackoff  = time.Second
	maxBackoff   = 5 * time.Minute
	// maxTracked bounds the memory an attacker spraying names can take.
	maxTracked = 100000
)

// SignInThrottle counts failed sign-ins per key (an account, an address)
// and says how long a key must still wait: the in-memory one counts for one
// process, a shared one (Redis) for every replica, so an attacker gets the
// free tries once, not once per replica.
type SignInThrottle interface {
	// SignInWait is how long the longest-waiting of keys must still wait
	// at now; zero when a sign-in may be tried.
	SignInWait(ctx context.Context, keys []string, now time.Time) (time.Duration, error)
	// SignInResult counts a sign-in that was tried: a success clears the
	// keys, a failure counts against each (see SignInBackoff).
	SignInResult(ctx context.Context, keys []string, ok bool, now time.Time) error
}

// SignInBackoff is how long a key waits after its n-th failure in a row:
// nothing for the first freeFailures - 1, then a second doubling with each
// failure, up to maxBackoff.
func SignInBackoff(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	return min(baseBackoff<<min(n-freeFailures, 20), maxBackoff)
}

// signInKeys are the counters one sign-in for name from addr counts on.
func signInKeys(name, addr string) []string { return []string{accountKey(name), addressKey(addr)} }

// backoff is the in-memory SignInThrottle of one process.
type backoff struct {
	now func() time.Time

	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n     int
	until time.Time // refused before this
	last  time.Time
}

func newBackoff(now func() time.Time) *backoff {
	return &backoff{now: now, fails: map[string]*failures{}}
}

func accountKey(name string) string { return "account:" + name }
func addressKey(addr string) string { return "address:" + addr }

// SignInWait implements SignInThrottle.
func (b *backoff) SignInWait(_ context.Context, keys []string, now time.Time) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		if f := b.fails[k]; f != nil && now.Before(f.until) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w, nil
}

// SignInResult implements SignInThrottle.
func (b *backoff) SignInResult(_ context.Context, keys []string, ok bool, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		for _, k := range keys {
			delete(b.fails, k)
		}
		return nil
	}
	if len(b.fails) >= maxTracked {
		b.sweep(now)
	}
	for _, k := range keys {
		f := b.fails[k]
		if f == nil {
			if len(b.fails) >= maxTracked {
				continue // full of live entries: the address key still counts
			}
			f = &failures{}
			b.fails[k] = f
		}
		f.n++
		f.last = now
		if d := SignInBackoff(f.n); d > 0 {
			f.until = now.Add(d)
		}
	}
	return nil
}

// sweep forgets entries quiet for longer than the longest wait.
func (b *backoff) sweep(now time.Time) {
	for k, f := range b.fails {
		if now.Sub(f.last) > maxBackoff && !now.Before(f.until) {
			delete(b.fails, k)
		}
	}
}

// clientAddr is the address a sign-in came from: the peer, not a header a
// client could set. Behind a proxy every browser shares the proxy's address.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
