// Package httpx is the HTTP layer the vendor drivers share: it builds and
// sends requests, reads bodies up to a cap, paces them with the instance's
// limiter and semaphore, retries what is safe to retry (Policy), and stops
// calling a vendor that keeps failing (a circuit breaker per instance).
//
// Drivers keep what is theirs: authentication, reading error bodies, and
// vendor protocols such as ESET's 202 collection. Do hands every answer it
// does not retry back to the driver, whatever its status; it returns an
// error only when there is no answer to hand back.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// DefaultMaxBody caps a response body: far above any page a vendor serves,
// far below what would hurt the process.
const DefaultMaxBody = 64 << 20

// Breaker defaults: trip after this many failed attempts in a row, then
// refuse calls for OpenFor before letting one probe through. Eight in a row
// is what a dead vendor produces in two or three calls, and what a vendor
// failing one request in five produces about once in 400,000 attempts.
const (
	DefaultTripAfter = 8
	DefaultOpenFor   = 15 * time.Second
)

// Observer sees what the layer does, for metrics. Every method must be
// cheap and safe for concurrent use; a nil Observer observes nothing.
type Observer interface {
	// Request reports one attempt: its HTTP status (0 when no answer came)
	// and how long it took.
	Request(instance, method string, status int, d time.Duration)
	// Retry reports that an attempt is sent again, and why ("503",
	// "reset", "truncated body", "429").
	Retry(instance, method, reason string)
	// BreakerState reports a change of the instance's breaker: "closed",
	// "half-open" or "open".
	BreakerState(instance, state string)
	// LimiterWait reports how long an attempt waited for the rate limiter.
	LimiterWait(instance string, d time.Duration)
}

// Common are the settings every driver's Config takes alike, and this
// layer with them: the command sets the instance's name, client, observer
// and logger of each driver it builds (descriptor.Options embeds Common);
// tests set the clock. A driver embeds Common in its Config and states
// only what is its own.
type Common struct {
	// Instance names the vendor instance in errors, logs and metrics; a
	// driver's default is its vendor key.
	Instance string
	// HTTPClient, when set, replaces the driver's default client; this
	// layer's default has a 60 s timeout.
	HTTPClient *http.Client
	// Observer, when set, sees the requests, retries, breaker and limiter
	// waits (metrics).
	Observer Observer
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// Now and Sleep replace the clock in tests; nil means the real one.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// WithDefaults fills what c leaves unset, but for the HTTP client, whose
// default is the driver's own: instance (the driver's vendor key, or ""
// to leave the name unset), a logger that discards, the real clock.
func (c Common) WithDefaults(instance string) Common {
	if c.Instance == "" {
		c.Instance = instance
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = wire.Sleep
	}
	return c
}

// Config configures a Client. Only Instance is required.
type Config struct {
	Common
	// Limiter paces every attempt (nil: no pacing); Semaphore bounds the
	// attempts in flight (nil: no bound). The semaphore is taken first and
	// held until the body is read.
	Limiter   driver.Limiter
	Semaphore driver.Semaphore
	// MaxBody caps response bodies; 0 means DefaultMaxBody.
	MaxBody int64
	Policy  Policy
	// TripAfter and OpenFor tune the breaker; 0 means the defaults.
	TripAfter int
	OpenFor   time.Duration
}

// Client sends the requests of one vendor instance.
type Client struct {
	cfg      Config
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	openedAt atomic.Int64 // unix nanoseconds of the last trip
	lastBody atomic.Int64 // size of the last body read, to size the next read
}

// readBody reads at most MaxBody+1 bytes of resp's body into one buffer
// sized up front, from Content-Length or else the last body's size: reading
// a list page of a few hundred kilobytes into a growing slice copied it
// over a dozen times. The buffer comes from the pool of bodies given back
// with Response.Release when one is there.
func (c *Client) readBody(resp *http.Response) (*bytes.Buffer, error) {
	limit := c.cfg.MaxBody + 1
	size := resp.ContentLength
	if size < 0 {
		last := c.lastBody.Load()
		size = last + last/8
	}
	buf, _ := bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	buf.Grow(int(min(max(size+bytes.MinRead, 4<<10), limit)))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit))
	c.lastBody.Store(int64(buf.Len()))
	return buf, err
}

// bodies are read buffers given back by drivers done with them.
var bodies sync.Pool

// maxPooledBody bounds the buffers kept for reuse: a rare huge page is
// left to the collector rather than held by the pool.
const maxPooledBody = 1 << 20

// Release gives the body's buffer back for the next response to be read
// into. Call it only when nothing refers to Body any more (it has been
// decoded into values of their own); Body is nil afterwards. A response
// never released is collected as usual.
func (r *Response) Release() {
	if r == nil || r.buf == nil {
		return
	}
	if r.buf.Cap() <= maxPooledBody {
		bodies.Put(r.buf)
	}
	r.buf, r.Body = nil, nil
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	cfg.Common = cfg.WithDefaults("")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.TripAfter <= 0 {
		cfg.TripAfter = DefaultTripAfter
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultOpenFor
	}
	cfg.Policy = cfg.Policy.withDefaults()
	c := &Client{cfg: cfg}
	trip := uint32(cfg.TripAfter)
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Instance,
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= trip },
		IsExcluded:  func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(name string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				c.openedAt.Store(time.Now().UnixNano())
				cfg.Logger.Warn("vendor failing: calls stop for a while", "instance", name, "for", cfg.OpenFor)
			}
			if cfg.Observer != nil {
				cfg.Observer.BreakerState(name, to.String())
			}
		},
	})
	return c
}

// Request is one HTTP request to a vendor.
type Request struct {
	Method string
	// URL is absolute; Path names the request in errors ("GET /v2/incidents")
	// and defaults to URL's path.
	URL    string
	Path   string
	Header http.Header
	Body   []byte
	// Idempotent marks a request that may be sent twice with no effect
	// beyond the first (reads, list searches sent as POST, token grants,
	// ESET's 202 collections). Only such requests are sent again after an
	// answer that may have followed processing (5xx, a reset, a cut body).
	Idempotent bool
	// Unpaced skips the limiter and the semaphore (an OAuth host the
	// vendor does not count).
	Unpaced bool
}

// Response is a complete answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	buf    *bytes.Buffer // Body's buffer, for Release
}

// BreakerOpenError is the error of a call refused because the instance
// failed repeatedly: no request was sent.
type BreakerOpenError struct {
	Instance string
	// For is how much longer calls are refused.
	For time.Duration
}

func (e *BreakerOpenError) Error() string {
	return fmt.Sprintf("%s is failing; the server stopped calling it for %s after repeated errors (server errors, resets or timeouts); try again after that", e.Instance, e.For)
}

// BodyTooLargeError is the error of an answer longer than the cap.
type BodyTooLargeError struct{ Limit int64 }

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("response larger than %d bytes", e.Limit)
}

// errExcluded marks attempts the breaker neither counts as success nor as
// failure (a 429, a caller that went away).
var errExcluded = errors.New("excluded")

// errTruncated marks a body cut short: a JSON answer that does not parse
// or a connection that closed before Content-Length.
var errTruncated = errors.New("response body cut short")

// attempt is the outcome of one try.
type attempt struct {
	resp *Response
	err  error
	// sent is true when the request was written to the connection: the
	// vendor may have acted on it even though no answer came.
	sent bool
	// local is true when the error came from the client's own limiter or
	// semaphore, before any I/O.
	local bool
}

// Do sends req, retrying what Policy allows within ctx's deadline, and
// returns the vendor's answer whatever its status. Its errors say what went
// wrong with the request's name; a request with side effects that was sent
// and got no complete answer wraps driver.ErrOutcomeUnknown.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	if req.Path == "" {
		r := *req
		r.Path = pathOf(req.URL)
		req = &r
	}
	name := req.Method + " " + req.Path
	for n := 1; ; n++ {
		a := c.try(ctx, req)
		retry, wait, reason := c.cfg.Policy.Retry(req, n, a)
		if retry && ctx.Err() == nil {
			if dl, ok := ctx.Deadline(); !ok || c.cfg.Now().Add(wait).Before(dl) {
				c.cfg.Logger.Debug("vendor request retried", "instance", c.cfg.Instance, "request", name, "reason", reason, "attempt", n, "wait", wait)
				if c.cfg.Observer != nil {
					c.cfg.Observer.Retry(c.cfg.Instance, req.Method, reason)
				}
				if c.cfg.Sleep(ctx, wait) == nil {
					continue
				}
			}
		}
		if a.err == nil {
			return a.resp, nil
		}
		if !req.Idempotent && a.sent && !errors.Is(a.err, errBreaker) {
			return nil, fmt.Errorf("%s: %w (%w)", name, driver.ErrOutcomeUnknown, a.err)
		}
		return nil, fmt.Errorf("%s: %w", name, a.err)
	}
}

// errBreaker marks an attempt the breaker refused.
var errBreaker = errors.New("breaker open")

// try makes one attempt: breaker, semaphore, limiter, the round trip and
// the body.
func (c *Client) try(ctx context.Context, req *Request) attempt {
	done, err := c.breaker.Allow()
	if err != nil {
		left := c.cfg.OpenFor - time.Since(time.Unix(0, c.openedAt.Load()))
		left = max(left, time.Second).Round(time.Second)
		return attempt{err: fmt.Errorf("%w: %w", errBreaker, &BreakerOpenError{Instance: c.cfg.Instance, For: left})}
	}
	a := c.roundTrip(ctx, req)
	done(c.verdict(ctx, a))
	return a
}

// verdict is what the breaker learns from an attempt: nil for an answer
// the vendor gave on purpose, an error for one that says it is unwell.
func (c *Client) verdict(ctx context.Context, a attempt) error {
	switch {
	case a.local:
		return errExcluded
	case a.err != nil:
		if errors.Is(a.err, context.Canceled) && ctx.Err() != nil {
			return errExcluded // the caller left; says nothing of the vendor
		}
		return a.err
	case a.resp.Status == http.StatusTooManyRequests:
		return errExcluded
	case a.resp.Status >= 500:
		return fmt.Errorf("status %d", a.resp.Status)
	}
	return nil
}

func (c *Client) roundTrip(ctx context.Context, req *Request) attempt {
	// answered tells the limiter the request was answered, once: after the
	// round trip, or when the attempt ends without one. (sync.OnceFunc
	// cost three allocations a request for what one goroutine calls in
	// turn.)
	var answered func()
	answer := func() {
		if answered != nil {
			answered()
			answered = nil
		}
	}
	defer answer()
	if !req.Unpaced {
		wctx := context.WithValue(ctx, nameKey{}, req) // a pointer: no copy of the name to box
		if c.cfg.Semaphore != nil {
			release, err := c.cfg.Semaphore.Acquire(wctx)
			if err != nil {
				return attempt{err: fmt.Errorf("waiting for a free connection slot: %w", err), local: true}
			}
			defer release()
		}
		if c.cfg.Limiter != nil {
			start := time.Now()
			var err error
			if a, ok := c.cfg.Limiter.(Admitter); ok {
				// The request counts until its answer came (or it
				// failed): the vendor counted it before answering,
				// however late a starved process wrote it or a
				// starved vendor read it.
				answered, err = a.Admit(wctx)
			} else {
				err = c.cfg.Limiter.Wait(wctx)
			}
			if c.cfg.Observer != nil {
				c.cfg.Observer.LimiterWait(c.cfg.Instance, time.Since(start))
			}
			if err != nil {
				return attempt{err: fmt.Errorf("waiting for the rate limit: %w", err), local: true}
			}
		}
	}
	// Whether the request was written: one allocation holds the flag and
	// the trace that sets it.
	w := &wroteTrace{}
	w.trace.WroteRequest = func(httptrace.WroteRequestInfo) { w.sent.Store(true) }
	sent := &w.sent
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &w.trace), req.Method, req.URL, body)
	if err != nil {
		return attempt{err: err}
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if hr.Header.Get("Accept") == "" {
		hr.Header["Accept"] = jsonType // shared: Set and Add never write into it
	}
	if req.Body != nil && hr.Header.Get("Content-Type") == "" {
		hr.Header["Content-Type"] = jsonType
	}
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(hr)
	answer()
	if err != nil {
		c.observe(req, 0, start)
		return attempt{err: err, sent: sent.Load()}
	}
	defer resp.Body.Close()
	buf, err := c.readBody(resp)
	b := buf.Bytes()
	c.observe(req, resp.StatusCode, start)
	switch {
	case err != nil:
		return attempt{err: fmt.Errorf("%w: status %d, read body: %w", errTruncated, resp.StatusCode, err), sent: true}
	case int64(len(b)) > c.cfg.MaxBody:
		return attempt{err: &BodyTooLargeError{Limit: c.cfg.MaxBody}, sent: true}
	case resp.StatusCode/100 == 2 && cutJSON(resp.Header, b):
		return attempt{err: fmt.Errorf("%w: status %d, %d bytes of JSON that stop mid-value", errTruncated, resp.StatusCode, len(b)), sent: true}
	}
	return attempt{resp: &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, buf: buf}, sent: true}
}

// wroteTrace is a request's trace and what it learns.
type wroteTrace struct {
	sent  atomic.Bool
	trace httptrace.ClientTrace
}

// jsonType is the value of the Accept and Content-Type headers httpx adds.
var jsonType = []string{"application/json"}

// cutJSON reports a JSON body that opens an object or array and does not
// close it: cut short by something that also rewrote Content-Length. It
// looks at two bytes, not the whole body: the driver's decoder checks the
// rest, and pages are large.
func cutJSON(h http.Header, b []byte) bool {
	if !strings.Contains(h.Get("Content-Type"), "json") {
		return false
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '{':
		return b[len(b)-1] != '}'
	case '[':
		return b[len(b)-1] != ']'
	}
	return false
}

// Admitter is a Limiter that learns when each request it admitted was
// answered, so that it can count the request until then (WindowLimiter).
// answered is called once: when the answer's header came, or when the
// round trip ended without one.
type Admitter interface {
	Admit(ctx context.Context) (answered func(), err error)
}

type nameKey struct{}

// RequestOf tells a Limiter or Semaphore which request waits on it, for its
// errors: the method and path of the Request ("", "" outside Do).
func RequestOf(ctx context.Context) (method, path string) {
	if r, _ := ctx.Value(nameKey{}).(*Request); r != nil {
		return r.Method, r.Path
	}
	return "", ""
}

func (c *Client) observe(req *Request, status int, start time.Time) {
	if c.cfg.Observer != nil {
		c.cfg.Observer.Request(c.cfg.Instance, req.Method, status, time.Since(start))
	}
}

func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			u = u[j:]
		} else {
			u = "/"
		}
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}
