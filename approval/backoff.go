package approval

import (
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

// backoff counts failed sign-ins per account and per address. It is per
// process: with replicas each keeps its own count, so an attacker gets the
// free tries once per replica, and the waits bound each replica alike.
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

// wait is how long a sign-in for name from addr must still wait; zero when
// it may be tried now.
func (b *backoff) wait(name, addr string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var w time.Duration
	for _, k := range []string{accountKey(name), addressKey(addr)} {
		if f := b.fails[k]; f != nil && now.Before(f.until) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

// record counts the outcome of a sign-in that was tried.
func (b *backoff) record(name, addr string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := []string{accountKey(name), addressKey(addr)}
	if ok {
		for _, k := range keys {
			delete(b.fails, k)
		}
		return
	}
	now := b.now()
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
		if f.n >= freeFailures {
			d := baseBackoff << min(f.n-freeFailures, 20)
			f.until = now.Add(min(d, maxBackoff))
		}
	}
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
