package dlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// Retry and token policy. The vendor answers 429 past its limits and tells
// when the window resets; the client waits for that within the caller's
// deadline rather than failing a scan halfway.
const (
	// maxRateRetries bounds how often one call waits out a 429 when the
	// caller set no deadline: a few windows, not forever.
	maxRateRetries = 5
	// refreshJitter bounds the random pause before a new token after a 401.
	refreshJitter = 500 * time.Millisecond
	// minThrottleWait is the least a 429 is waited out, for a reset that
	// the local clock already sees in the past (clock skew).
	minThrottleWait = 50 * time.Millisecond
	// concurrencyBackoff caps the wait after a 429 that still reports
	// requests left in the window: another client of the same key held the
	// endpoint's slots, which frees up long before the window resets.
	concurrencyBackoff = 500 * time.Millisecond
	// maxAttempts and baseBackoff govern transient failures of reads
	// (httpx's policy; 429s are the driver's own, above).
	maxAttempts = 3
	baseBackoff = 250 * time.Millisecond
	// defaultTokenTTL is the documented lifetime (expires_in 900), used when
	// an answer leaves expires_in out.
	defaultTokenTTL = 15 * time.Minute
	// maxRenewMargin is how long before expiry a token is renewed, so that
	// no request leaves with a token that dies on the way.
	maxRenewMargin = time.Minute
	// jitterShare is the part of one request's slot added to every window
	// in the client's schedule; see newLimiter.
	jitterShare = 4
)

// requestIDHeaders are the headers a request id may come back in; the
// vendor does not document one (unverified), so the common names are read.
var requestIDHeaders = []string{"X-Request-Id", "X-Correlation-Id", "Request-Id"}

// client is an authenticated HTTP client for one DLP tenant that keeps every
// call of its instance within the vendor's limits: at most RateLimit
// requests per RateWindow (token exchanges included) and at most
// MaxConcurrent in flight.
type client struct {
	hc      *httpx.Client
	baseURL string
	prefix  string
	apiKey  string
	log     *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error

	rateLimit     int
	rateWindow    time.Duration
	maxConcurrent int
	// shared, when set, replaces the local schedule below (a limiter
	// shared by replicas); the pause after a 429 applies either way.
	shared  driver.Limiter
	limiter *rate.Limiter
	slot    time.Duration // the limiter's interval between two requests

	// exchanging serializes token exchanges; a channel rather than a mutex
	// so that a caller whose context ends stops waiting.
	exchanging chan struct{}

	mu      sync.Mutex
	access  string
	renewAt time.Time
	// pauseUntil holds every request of the instance back after a 429 that
	// said the window is spent: sending more before the reset would only
	// collect more 429s.
	pauseUntil time.Time
	lastSend   time.Time
}

// newLimiter returns the token bucket that spaces requests so that no window
// of the vendor's can see more than limit of them.
//
// The vendor counts requests in fixed windows. A token bucket of rate
// limit/window and burst b admits b requests at once and one per
// window/limit after that: b + limit − 1 in some window. The fixed window
// admits limit, so b must be 1. With b = 1 the requests of any span of one
// window number at most limit when they arrive exactly as sent; but they
// arrive after network and scheduling delays that differ from one request
// to the next, and a first request delayed more than the limit-th after it
// would put limit+1 into one window. So every window of the schedule is a
// little longer than the vendor's — by a quarter of one request's slot
// (250 ms at 60 per minute) — which absorbs that jitter at a cost of
// 1/(4·limit) of the throughput (59.75 of 60 per minute). The jitter of the
// client's own wake-ups is taken out separately, by spaceOut.
func newLimiter(limit int, window time.Duration) *rate.Limiter {
	span := window + window/time.Duration(jitterShare*limit)
	return rate.NewLimiter(rate.Every(span/time.Duration(limit)), 1)
}

// response is a successful API answer.
type response struct {
	body      []byte
	requestID string
	release   func() // gives body's buffer back once nothing refers to it
}

// semaphore is the local bound on requests in flight: one element each.
type semaphore chan struct{}

// Acquire implements driver.Semaphore.
func (s semaphore) Acquire(ctx context.Context) (func(), error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// schedule is the instance's driver.Limiter: the pause after a 429 that
// spent the vendor's window, then the shared limiter or the local schedule.
// httpx takes the concurrency slot before it, so that a request leaves as
// soon as its place comes: waiting for a slot after the place would let
// later requests bunch up behind it.
type schedule struct{ c *client }

// Wait implements driver.Limiter.
func (s schedule) Wait(ctx context.Context) error {
	answered, err := s.Admit(ctx)
	if err == nil {
		answered()
	}
	return err
}

// Admit implements httpx.Admitter: a shared limit that counts a request
// until its answer (the replicas' one, through Redis) learns when it came.
func (s schedule) Admit(ctx context.Context) (answered func(), err error) {
	c := s.c
	method, path := httpx.RequestOf(ctx)
	for {
		now := c.now()
		if until := c.paused(); now.Before(until) {
			if err := c.waitUntil(ctx, method, path, now, until, "the vendor's rate window is spent"); err != nil {
				return nil, err
			}
			continue
		}
		if c.shared != nil {
			done := func() {}
			if a, ok := c.shared.(httpx.Admitter); ok {
				done, err = a.Admit(ctx)
			} else {
				err = c.shared.Wait(ctx)
			}
			if err != nil {
				return nil, err
			}
			if c.now().Before(c.paused()) {
				done() // a 429 spent the window meanwhile: this place goes unused
				continue
			}
			return done, nil
		}
		r := c.limiter.ReserveN(now, 1)
		if !r.OK() {
			return nil, fmt.Errorf("%s %s: rate limiter refused the request", method, path)
		}
		if delay := r.DelayFrom(now); delay > 0 {
			if err := c.waitUntil(ctx, method, path, now, now.Add(delay), "the client keeps within the vendor's limit"); err != nil {
				r.CancelAt(c.now())
				return nil, err
			}
		}
		// A 429 that came in while this request waited spent its place; the
		// place is not handed back, which only slows the schedule down.
		if c.now().Before(c.paused()) {
			continue
		}
		if err := c.spaceOut(ctx, method, path); err != nil {
			return nil, err
		}
		return func() {}, nil
	}
}

// spaceOut keeps actual sends one slot apart. The limiter schedules places
// one slot apart, but a request woken late for its place (a busy CPU) would
// leave close to the next one, squeezing the two into less than a slot.
func (c *client) spaceOut(ctx context.Context, method, path string) error {
	for {
		c.mu.Lock()
		now := c.now()
		next := c.lastSend.Add(c.slot)
		if !now.Before(next) {
			c.lastSend = now
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		if err := c.waitUntil(ctx, method, path, now, next, "the client keeps within the vendor's limit"); err != nil {
			return err
		}
	}
}

func (c *client) paused() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pauseUntil
}

// waitUntil sleeps until t, or fails at once with a rate-limited error when
// t is past the context's deadline.
func (c *client) waitUntil(ctx context.Context, method, path string, now, t time.Time, why string) error {
	if dl, ok := ctx.Deadline(); ok && t.After(dl) {
		return c.rateLimited(method, path, "", t, why+" and this call's deadline comes first")
	}
	if err := c.sleep(ctx, t.Sub(now)); err != nil {
		return fmt.Errorf("%s %s: waiting for the rate limit: %w", method, path, err)
	}
	return nil
}

// rateLimited is the error of a call that cannot wait for the vendor's
// limit: a 429 for the error code, with the time to retry in its message.
func (c *client) rateLimited(method, path, requestID string, at time.Time, why string) *driver.HTTPError {
	return &driver.HTTPError{
		Method: method, Path: path, Status: http.StatusTooManyRequests, RequestID: requestID,
		Message: fmt.Sprintf("rate limited, retry after %s (%s; DLP allows %d requests per %s per API key and %d at once)",
			at.UTC().Format(time.RFC3339), why, c.rateLimit, c.rateWindow, c.maxConcurrent),
		RetryAfter: max(at.Sub(c.now()), 0),
	}
}

// call sends one request through httpx (pacing, transient failures, the
// breaker) and waits out the 429s the vendor asks to wait out, until their
// reset and within the deadline. Any other non-2xx answer is a
// *driver.HTTPError.
func (c *client) call(ctx context.Context, method, path string, payload []byte, bearer string, read bool) (*response, error) {
	h := http.Header{}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	req := &httpx.Request{Method: method, URL: c.baseURL + path, Path: path, Header: h, Body: payload, Idempotent: read}
	for throttled := 1; ; throttled++ {
		resp, err := c.hc.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		rid := requestID(resp.Header)
		if resp.Status >= 200 && resp.Status < 300 {
			return &response{body: resp.Body, requestID: rid, release: resp.Release}, nil
		}
		he := httpError(method, path, resp)
		if resp.Status != http.StatusTooManyRequests {
			return nil, he
		}
		wait, err := c.throttle(ctx, method, path, resp.Header, rid, throttled)
		if err != nil {
			return nil, err
		}
		c.log.Info("dlp rate limited; waiting for the reset", "path", path, "wait", wait, "attempt", throttled)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, he
		}
	}
}

// throttle reads a 429's X-RateLimit-Reset and -Remaining and returns how
// long to wait, or the rate-limited error when that wait would pass the
// deadline or the call has waited often enough.
func (c *client) throttle(ctx context.Context, method, path string, h http.Header, rid string, attempt int) (time.Duration, error) {
	now := c.now()
	until := now.Add(time.Second << min(attempt-1, 5)) // no reset header: back off
	if sec, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil && sec > 0 {
		until = time.Unix(sec, 0)
	}
	if until.Before(now.Add(minThrottleWait)) {
		until = now.Add(minThrottleWait)
	}
	why := "the vendor's rate window is spent"
	if rem, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining"))); err == nil && rem > 0 {
		// Requests are left in the window, so the refusal was for
		// concurrency: another client of this API key holds the endpoint.
		why = "the endpoint's concurrent requests are taken"
		if limit := now.Add(concurrencyBackoff); limit.Before(until) {
			until = limit
		}
	} else {
		c.mu.Lock()
		if until.After(c.pauseUntil) {
			c.pauseUntil = until
		}
		c.mu.Unlock()
	}
	if dl, ok := ctx.Deadline(); ok && until.After(dl) {
		return 0, c.rateLimited(method, path, rid, until, why+" and this call's deadline comes first")
	}
	if attempt > maxRateRetries {
		return 0, c.rateLimited(method, path, rid, until, fmt.Sprintf("%s; gave up after %d attempts", why, attempt))
	}
	return until.Sub(now), nil
}

// do sends an authenticated API request: with the cached token, and after
// a 401 once more with a freshly exchanged one.
func (c *client) do(ctx context.Context, method, path string, in any, read bool) (*response, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	tok, err := c.token(ctx, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, method, path, payload, tok, read)
	if he, ok := errors.AsType[*driver.HTTPError](err); ok && he.Status == http.StatusUnauthorized {
		// The token expired early or was revoked: exchange the key again,
		// once, unless another call has done so already.
		c.log.Info("dlp token refused; exchanging the API key again", "path", path)
		if tok, err = c.token(ctx, tok); err != nil {
			return nil, err
		}
		resp, err = c.call(ctx, method, path, payload, tok, read)
	}
	return resp, err
}

// token returns a valid access token: the cached one, or a new one when it
// is near expiry or is stale (the one a request was just refused with).
func (c *client) token(ctx context.Context, stale string) (string, error) {
	if tok, ok := c.cached(stale); ok {
		return tok, nil
	}
	if stale != "" {
		// A token revoked early is refused to every request in flight, on
		// every replica at once: a random pause spreads their exchanges
		// (which count against the key's rate window).
		if err := c.sleep(ctx, rand.N(refreshJitter)); err != nil {
			return "", fmt.Errorf("dlp sign-in: %w", err)
		}
	}
	select {
	case c.exchanging <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("dlp sign-in: %w", ctx.Err())
	}
	defer func() { <-c.exchanging }()
	// Another call may have exchanged the key while this one waited.
	if tok, ok := c.cached(stale); ok {
		return tok, nil
	}
	return c.exchange(ctx)
}

func (c *client) cached(stale string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != "" && c.access != stale && c.now().Before(c.renewAt) {
		return c.access, true
	}
	return "", false
}

// tokenRequest is the exchange body. The docs name the field api_key;
// working integrations send the key as refresh_token, which is what this
// driver sends too.
type tokenRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// exchange trades the API key for an access token; the caller holds
// c.exchanging.
func (c *client) exchange(ctx context.Context) (string, error) {
	path := c.prefix + "/auth/token/access"
	payload, _ := json.Marshal(tokenRequest{RefreshToken: c.apiKey})
	resp, err := c.call(ctx, http.MethodPost, path, payload, "", true)
	if he, ok := errors.AsType[*driver.HTTPError](err); ok && (he.Status == http.StatusUnauthorized || he.Status == http.StatusBadRequest) {
		he.Status = http.StatusUnauthorized
		he.Message = "the API key was refused (" + he.Message + "): check the Cyberhaven API key configured for this instance"
		return "", he
	}
	if err != nil {
		return "", err
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("dlp sign-in: unreadable token response (request-id %s)", resp.requestID)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	c.mu.Lock()
	c.access = tr.AccessToken
	c.renewAt = c.now().Add(ttl - min(maxRenewMargin, ttl/4))
	c.mu.Unlock()
	c.log.Debug("dlp access token obtained", "expires_in", ttl)
	return tr.AccessToken, nil
}

// apiError is one entry of the vendor's errors array.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// httpError reads the vendor's error answer, {"errors":[{code, message}]},
// and says which permission a 403 lacks.
func httpError(method, path string, resp *httpx.Response) *driver.HTTPError {
	he := &driver.HTTPError{Method: method, Path: path, Status: resp.Status, RequestID: requestID(resp.Header)}
	var eb struct {
		Errors  []apiError `json:"errors"`
		Message string     `json:"message"`
	}
	if json.Unmarshal(resp.Body, &eb) == nil {
		var msgs []string
		for _, e := range eb.Errors {
			if e.Message != "" {
				msgs = append(msgs, e.Message)
			}
		}
		if len(msgs) == 0 && eb.Message != "" {
			msgs = append(msgs, eb.Message)
		}
		he.Message = strings.Join(msgs, "; ")
	}
	if resp.Status == http.StatusForbidden {
		perm := "incident__read"
		if method == http.MethodPatch {
			perm = "incident__update"
		}
		he.Message = strings.TrimPrefix(he.Message+"; the API key needs the "+perm+" permission", "; ")
	}
	return he
}

func requestID(h http.Header) string {
	for _, k := range requestIDHeaders {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}
