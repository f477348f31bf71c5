package eset

import (
	"bytes"
	"cmp"
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
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Retry policy. ESET answers 429 past 10 requests/s and 202 when a response
// is not ready; both are waited out within the caller's deadline.
const (
	maxAttempts     = 4
	baseBackoff     = 250 * time.Millisecond
	maxBackoff      = 5 * time.Second
	asyncPollEvery  = time.Second
	refreshMargin   = 2 * time.Minute
	maxResponseBody = 64 << 20
)

// client is an authenticated, rate-limited ESET Connect HTTP client.
type client struct {
	http     *http.Client
	apiURL   string
	tokenURL string
	username string
	password string
	limiter  *rate.Limiter
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu      sync.Mutex
	access  string
	refresh string
	expires time.Time
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

// token returns a valid access token: the cached one, a refreshed one shortly
// before expiry, or a new one from the password grant when refresh fails.
func (c *client) token(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !force && c.access != "" && c.now().Add(refreshMargin).Before(c.expires) {
		return c.access, nil
	}
	if c.refresh != "" {
		err := c.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refresh}})
		if err == nil {
			return c.access, nil
		}
		c.log.Info("eset token refresh failed; signing in again", "err", err)
	}
	if err := c.grant(ctx, url.Values{"grant_type": {"password"}, "username": {c.username}, "password": {c.password}}); err != nil {
		return "", err
	}
	return c.access, nil
}

// grant runs one OAuth grant; the caller holds c.mu.
func (c *client) grant(ctx context.Context, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("eset sign-in: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("eset sign-in: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		he := httpError(http.MethodPost, "/oauth/token", resp, body)
		if resp.StatusCode == http.StatusBadRequest {
			// ESET answers 400 to wrong credentials.
			he.Status = http.StatusUnauthorized
			he.Message = "sign-in refused: check the ESET API user name and password (the user needs the Integrations permission)"
		}
		return he
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("eset sign-in: unreadable token response")
	}
	c.access, c.refresh = tr.AccessToken, tr.RefreshToken
	c.expires = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	return nil
}

// response is a successful API answer.
type response struct {
	body      []byte
	requestID string
}

// do sends one API request, handling auth, the rate limit, 429 backoff, one
// re-authentication on 401, transient 5xx on reads, and the 202 protocol.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) (*response, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	u := c.apiURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	reauthed := false
	responseID := ""
	for attempt := 1; ; attempt++ {
		tok, err := c.token(ctx, false)
		if err != nil {
			return nil, err
		}
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: waiting for the rate limit: %w", method, path, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if responseID != "" {
			req.Header.Set("response-id", responseID)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
		}
		rid := resp.Header.Get("request-id")
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
			return &response{body: body, requestID: rid}, nil
		case resp.StatusCode == http.StatusAccepted:
			// Not ready: collect it by re-sending the identical request with
			// its response-id, until the deadline.
			if id := resp.Header.Get("response-id"); id != "" {
				responseID = id
			}
			if responseID == "" {
				return nil, fmt.Errorf("%s %s: 202 without a response-id (request-id %s)", method, path, rid)
			}
			if err := c.sleep(ctx, asyncPollEvery); err != nil {
				return nil, fmt.Errorf("%s %s: still pending when the deadline came (response-id %s): %w", method, path, responseID, err)
			}
			attempt--
			continue
		case resp.StatusCode == http.StatusUnauthorized && !reauthed:
			reauthed = true
			if _, err := c.token(ctx, true); err != nil {
				return nil, err
			}
			attempt--
			continue
		}
		he := httpError(method, path, resp, body)
		retryable := resp.StatusCode == http.StatusTooManyRequests ||
			(method == http.MethodGet && (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable))
		if !retryable || attempt >= maxAttempts {
			return nil, he
		}
		wait := he.RetryAfter
		if wait == 0 {
			wait = min(baseBackoff<<(attempt-1), maxBackoff)
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			return nil, he
		}
		c.log.Debug("eset retry", "status", resp.StatusCode, "wait", wait, "request_id", rid)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, he
		}
	}
}

// httpError reads ESET's error answer: often an empty body, sometimes
// {code, message, details}.
func httpError(method, path string, resp *http.Response, body []byte) *driver.HTTPError {
	he := &driver.HTTPError{Method: method, Path: path, Status: resp.StatusCode, RequestID: resp.Header.Get("request-id")}
	var eb struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil {
		he.Message = cmp.Or(eb.Message, eb.Error)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		he.RetryAfter = time.Duration(s) * time.Second
	}
	return he
}

var errNotConfigured = errors.New("eset: username and password are required")
