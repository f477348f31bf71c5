package httpserve

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/incident-mcp/incident-mcp/caller"
)

// CallLimiter bounds the request rate of each principal.
type CallLimiter interface {
	// Wait returns nil when principal (a caller.Identity Key) may make a
	// request now or within ctx, else an error.
	Wait(ctx context.Context, principal string) error
}

// maxCallWait is how long a request over its principal's rate may wait for
// a slot before it is refused: a short burst is smoothed, a flood refused.
const maxCallWait = time.Second

// limitCalls answers 429 to a principal over its request rate.
func limitCalls(l CallLimiter, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := caller.From(r.Context())
		if id.Method == caller.MethodNone {
			// Without authentication every request is one principal:
			// a per-caller rate would be a server-wide one.
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), maxCallWait)
		err := l.Wait(ctx, id.Key())
		cancel()
		if err != nil {
			log.Warn("caller over its request rate", "caller", id.Display(), "err", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests from this caller; slow down and retry", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LocalCallLimiter keeps one token bucket per principal in this process.
type LocalCallLimiter struct {
	limit rate.Limit
	burst int

	mu   sync.Mutex
	seen map[string]*localBucket
}

type localBucket struct {
	l    *rate.Limiter
	last time.Time
}

// NewLocalCallLimiter allows each principal perSecond requests on average
// with bursts of burst.
func NewLocalCallLimiter(perSecond float64, burst int) *LocalCallLimiter {
	return &LocalCallLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), seen: map[string]*localBucket{}}
}

// Wait implements CallLimiter.
func (c *LocalCallLimiter) Wait(ctx context.Context, principal string) error {
	c.mu.Lock()
	now := time.Now()
	b := c.seen[principal]
	if b == nil {
		if len(c.seen) > 10000 {
			// Forget principals idle long enough to have a full bucket.
			full := time.Duration(float64(c.burst)/float64(c.limit)*float64(time.Second)) + time.Second
			for k, v := range c.seen {
				if now.Sub(v.last) > full {
					delete(c.seen, k)
				}
			}
		}
		b = &localBucket{l: rate.NewLimiter(c.limit, c.burst)}
		c.seen[principal] = b
	}
	b.last = now
	c.mu.Unlock()
	return b.l.Wait(ctx)
}
