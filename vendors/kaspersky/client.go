package kaspersky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// API paths.
const (
	pathTenants   = "/xdr/api/v1/tenants"
	pathIncidents = "/xdr/api/v1/incidents"
	pathClose     = "/xdr/api/v1/incidents/close"
)

// Retry policy. Kaspersky documents no rate limit; a console or its proxy
// may still answer 5xx while busy or restarting. Reads are retried with
// backoff within the caller's deadline; writes only on 429, which means the
// request was not processed.
const (
	maxAttempts     = 4
	baseBackoff     = 200 * time.Millisecond
	maxBackoff      = 5 * time.Second
	maxResponseBody = 64 << 20
)

// client is an authenticated Kaspersky OSMP HTTP client.
type client struct {
	http    *http.Client
	baseURL string
	token   string
	log     *slog.Logger
	sleep   func(context.Context, time.Duration) error
}

// response is a successful API answer.
type response struct {
	body      []byte
	requestID string
}

// do sends one API request and returns its body, or a *driver.HTTPError
// for a non-2xx answer.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) (*response, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
		}
		if len(body) > maxResponseBody {
			return nil, fmt.Errorf("%s %s: response larger than %d bytes", method, path, maxResponseBody)
		}
		rid := requestID(resp.Header)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return &response{body: body, requestID: rid}, nil
		}
		he := httpError(method, path, resp, body)
		retryable := resp.StatusCode == http.StatusTooManyRequests ||
			method == http.MethodGet && resp.StatusCode >= 500
		if !retryable || attempt >= maxAttempts {
			return nil, he
		}
		wait := he.RetryAfter
		if wait == 0 {
			wait = min(baseBackoff<<(attempt-1), maxBackoff)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, he // no time left to wait for a better answer
		}
		c.log.Debug("kaspersky retry", "method", method, "path", path, "status", resp.StatusCode, "wait", wait, "attempt", attempt)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, he
		}
	}
}

// requestID is the request's id when a proxy or console sends one; the
// vendor documents none.
func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "Request-Id", "X-Correlation-Id"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// httpError reads Kaspersky's error body {message, details}: both go into
// Message, so the model sees the vendor's own words ("cannot parse from:
// …"). A body that is not that JSON (a proxy's HTML page) is left out.
func httpError(method, path string, resp *http.Response, body []byte) *driver.HTTPError {
	he := &driver.HTTPError{Method: method, Path: path, Status: resp.StatusCode, RequestID: requestID(resp.Header)}
	var eb struct {
		Message string `json:"message"`
		Details string `json:"details"`
	}
	if json.Unmarshal(body, &eb) == nil {
		he.Message = strings.TrimSpace(eb.Message)
		if d := strings.TrimSpace(eb.Details); d != "" {
			if he.Message != "" {
				he.Message += ": "
			}
			he.Message += d
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		he.RetryAfter = time.Duration(s) * time.Second
	}
	return he
}

// authHeaderRejected reports Kaspersky's 400 for a malformed Authorization
// header: a configuration fault, not a bad argument.
func authHeaderRejected(he *driver.HTTPError) bool {
	return he.Status == http.StatusBadRequest && strings.HasPrefix(he.Message, "invalid authorization header")
}

var errNoToken = errors.New("kaspersky: an API token is required (create one in the console under the API user)")
