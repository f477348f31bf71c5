package eset

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// Timing of the vendor's protocols. ESET answers 202 when a response is not
// ready; it is collected by polling within the caller's deadline and at most
// maxPolls times. Retries of 429 and transient failures are httpx's.
const (
	asyncPollEvery = time.Second
	maxPolls       = 30
	refreshMargin  = 2 * time.Minute
	// refreshJitter bounds the random pause before a refresh after a 401.
	refreshJitter = 500 * time.Millisecond
)

// client is an authenticated, rate-limited ESET Connect HTTP client.
type client struct {
	hc       *httpx.Client
	apiURL   string
	tokenURL string
	username string
	password string
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	auth atomic.Pointer[authHeader] // the header of the latest token

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
// before expiry or in place of stale (the token a request was just refused
// with), or a new one from the password grant when refresh fails.
func (c *client) token(ctx context.Context, stale string) (string, error) {
	if stale != "" {
		// A token revoked early is refused to every request in flight, on
		// every replica at once. A random pause spreads their refreshes; the
		// first through the lock refreshes, the others find its new token.
		if err := c.sleep(ctx, rand.N(refreshJitter)); err != nil {
			return "", fmt.Errorf("eset sign-in: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access != "" && c.access != stale && c.now().Add(refreshMargin).Before(c.expires) {
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

// grant runs one OAuth grant; the caller holds c.mu. The token host is not
// the API's and has no rate limit: grants are not paced.
func (c *client) grant(ctx context.Context, form url.Values) error {
	resp, err := c.hc.Do(ctx, &httpx.Request{
		Method: http.MethodPost, URL: c.tokenURL, Path: "/oauth/token", Body: []byte(form.Encode()),
		Header:     http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Idempotent: true, Unpaced: true,
	})
	if err != nil {
		return fmt.Errorf("eset sign-in: %w", err)
	}
	if resp.Status != http.StatusOK {
		he := httpError(http.MethodPost, "/oauth/token", resp)
		if resp.Status == http.StatusBadRequest {
			// ESET answers 400 to wrong credentials.
			he.Status = http.StatusUnauthorized
			he.Message = "sign-in refused: check the ESET API user name and password (the user needs the Integrations permission)"
		}
		return he
	}
	var tr tokenResponse
	if err := json.Unmarshal(resp.Body, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("eset sign-in: unreadable token response")
	}
	c.access, c.refresh = tr.AccessToken, tr.RefreshToken
	c.expires = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	return nil
}

// authHeader is the request header that carries tok, made once per token
// rather than once per request. It is shared: clone it to change it.
func (c *client) authHeader(tok string) http.Header {
	if a := c.auth.Load(); a != nil && a.token == tok {
		return a.header
	}
	a := &authHeader{token: tok, header: http.Header{"Authorization": {"Bearer " + tok}}}
	c.auth.Store(a)
	return a.header
}

type authHeader struct {
	token  string
	header http.Header
}

// response is a successful API answer.
type response struct {
	body      []byte
	requestID string
	release   func() // gives body's buffer back once it is decoded
}

// do sends one API request: with the access token, once more after a 401
// with a fresh one, and through the 202 protocol. Pacing, retries and the
// breaker are httpx's.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) (*response, error) {
	return c.doQuery(ctx, method, path, query.Encode(), in)
}

// doQuery is do with the query already encoded ("" for none).
func (c *client) doQuery(ctx context.Context, method, path, rawQuery string, in any) (*response, error) {
	u, payload, err := httpx.Target(method, c.apiURL, path, nil, in)
	if err != nil {
		return nil, err
	}
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	reauthed := false
	responseID := ""
	started := c.now()
	for polls := 0; ; {
		tok, err := c.token(ctx, "")
		if err != nil {
			return nil, err
		}
		h := c.authHeader(tok)
		if responseID != "" {
			h = h.Clone()
			h.Set("response-id", responseID)
		}
		resp, err := c.hc.Do(ctx, &httpx.Request{
			Method: method, URL: u, Path: path, Header: h, Body: payload,
			// Collecting a 202 re-sends a request ESET already took; it
			// cannot take it twice.
			Idempotent: method == http.MethodGet || responseID != "",
		})
		if err != nil {
			return nil, err
		}
		rid := resp.Header.Get("request-id")
		switch {
		case resp.Status == http.StatusOK || resp.Status == http.StatusNoContent:
			return &response{body: resp.Body, requestID: rid, release: resp.Release}, nil
		case resp.Status == http.StatusAccepted:
			// Not ready: collect it by re-sending the identical request with
			// its response-id, every asyncPollEvery, within the deadline.
			if id := resp.Header.Get("response-id"); id != "" {
				responseID = id
			}
			if responseID == "" {
				return nil, fmt.Errorf("%s %s: 202 without a response-id (request-id %s)", method, path, rid)
			}
			polls++
			pending := func(why string, err error) error {
				return fmt.Errorf("%s %s: ESET was still preparing the answer after %d polls in %s (response-id %s); %s: %w",
					method, path, polls, c.now().Sub(started).Round(time.Millisecond), responseID, why, err)
			}
			if polls >= maxPolls {
				return nil, pending("gave up", context.DeadlineExceeded)
			}
			if dl, ok := ctx.Deadline(); ok && c.now().Add(asyncPollEvery).After(dl) {
				return nil, pending("this call's deadline comes before the next poll", context.DeadlineExceeded)
			}
			if err := c.sleep(ctx, asyncPollEvery); err != nil {
				return nil, pending("the call ended", err)
			}
			continue
		case resp.Status == http.StatusUnauthorized && !reauthed:
			reauthed = true
			if _, err := c.token(ctx, tok); err != nil {
				return nil, err
			}
			continue
		}
		return nil, httpError(method, path, resp)
	}
}

// httpError reads ESET's error answer: often an empty body, sometimes
// {code, message, details}.
func httpError(method, path string, resp *httpx.Response) *driver.HTTPError {
	he := &driver.HTTPError{Method: method, Path: path, Status: resp.Status, RequestID: resp.Header.Get("request-id")}
	var eb struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(resp.Body, &eb) == nil {
		he.Message = cmp.Or(eb.Message, eb.Error)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		he.RetryAfter = time.Duration(s) * time.Second
	}
	return he
}

var errNotConfigured = errors.New("eset: username and password are required")
