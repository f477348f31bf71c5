package kaspersky

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// API paths.
const (
	pathTenants   = "/xdr/api/v1/tenants"
	pathIncidents = "/xdr/api/v1/incidents"
	pathClose     = "/xdr/api/v1/incidents/close"
)

// client is an authenticated Kaspersky OSMP HTTP client. Kaspersky documents
// no rate limit; a console or its proxy may still answer 5xx while busy or
// restarting, which httpx retries for reads within the caller's deadline
// (writes only after a 429, which means the request was not processed).
type client struct {
	hc      *httpx.Client
	baseURL string
	token   string
	log     *slog.Logger
	// sleep is the retry backoff's sleep; tests replace it.
	sleep func(context.Context, time.Duration) error
}

// response is a successful API answer.
type response struct {
	body      []byte
	requestID string
	release   func() // gives body's buffer back once nothing refers to it
}

// do sends one API request and returns its body, or a *driver.HTTPError
// for a non-2xx answer.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) (*response, error) {
	u, payload, err := httpx.Target(method, c.baseURL, path, query, in)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(ctx, &httpx.Request{
		Method: method, URL: u, Path: path, Body: payload,
		Header:     http.Header{"Authorization": {"Bearer " + c.token}},
		Idempotent: method == http.MethodGet,
	})
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, httpError(method, path, resp)
	}
	return &response{body: resp.Body, requestID: requestID(resp.Header), release: resp.Release}, nil
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
func httpError(method, path string, resp *httpx.Response) *driver.HTTPError {
	he := &driver.HTTPError{Method: method, Path: path, Status: resp.Status, RequestID: requestID(resp.Header)}
	var eb struct {
		Message string `json:"message"`
		Details string `json:"details"`
	}
	if json.Unmarshal(resp.Body, &eb) == nil {
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
