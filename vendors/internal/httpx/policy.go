package httpx

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy decides which attempts are sent again, in the manner of
// go-retryablehttp's CheckRetry and Backoff, as one function of the request,
// the attempt number and what the attempt got.
type Policy struct {
	// MaxAttempts counts the first attempt too; 0 means 4.
	MaxAttempts int
	// BaseBackoff doubles with each attempt up to MaxBackoff; 0 means
	// 250 ms and 5 s. A wait is drawn between half and all of it (jitter),
	// so that clients failed at once do not come back at once.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Retry429 sends any request again after a 429, which a vendor answers
	// before processing, after Retry-After or the backoff. Drivers whose
	// vendor tells more (DLP's rate-limit headers) leave it off and wait
	// themselves.
	Retry429 bool
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = 250 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	return p
}

// Retry reports whether attempt n of req, which ended as a says, is sent
// again, after how long, and why. The rules:
//   - nothing is retried past MaxAttempts, after the caller left, or when
//     the breaker refused the attempt or the client's own limiter failed;
//   - a request that never reached the wire (a refused connection) is
//     retried whatever its method;
//   - an idempotent request is retried after a 5xx, a reset, a timeout of
//     its own or a cut body;
//   - with Retry429, any request is retried after a 429;
//   - a request with side effects that reached the wire is never sent
//     again: its outcome is unknown, and Do says so.
func (p Policy) Retry(req *Request, n int, a attempt) (retry bool, wait time.Duration, reason string) {
	if n >= p.MaxAttempts {
		return false, 0, ""
	}
	switch {
	case a.local || errors.Is(a.err, errBreaker) || errors.Is(a.err, context.Canceled):
		return false, 0, ""
	case a.err != nil:
		var tooLarge *BodyTooLargeError
		if errors.As(a.err, &tooLarge) || errors.Is(a.err, context.DeadlineExceeded) && !isClientTimeout(a.err) {
			return false, 0, ""
		}
		if a.sent && !req.Idempotent {
			return false, 0, ""
		}
		reason = "reset"
		if errors.Is(a.err, errTruncated) {
			reason = "truncated body"
		}
		return true, p.backoff(n), reason
	case a.resp.Status == http.StatusTooManyRequests:
		if !p.Retry429 {
			return false, 0, ""
		}
		return true, p.after(a.resp.Header, n), "429"
	case a.resp.Status >= 500 && req.Idempotent:
		return true, p.after(a.resp.Header, n), strconv.Itoa(a.resp.Status)
	}
	return false, 0, ""
}

// isClientTimeout tells the http.Client's own timeout (one slow answer,
// worth another try) from the caller's deadline (no time left).
func isClientTimeout(err error) bool {
	return strings.Contains(err.Error(), "Client.Timeout exceeded")
}

// after honours Retry-After (seconds or an HTTP date), else backs off.
func (p Policy) after(h http.Header, n int) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return p.backoff(n)
}

// backoff is the wait after attempt n: exponential, capped, with jitter.
func (p Policy) backoff(n int) time.Duration {
	d := p.BaseBackoff << min(n-1, 20)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}
