// Package dlpsim simulates the Cyberhaven DLP API v2 incident endpoints in memory.
//
// Its one job is to be an honest stand-in for the vendor's HTTP API, so that the
// DLP driver, its tests, the benchmarks and the --demo mode exercise the same
// rules the real service enforces: API-key-for-token exchange with expiring
// tokens, the "List Incidents Enhanced" filter object (any-of arrays where an
// empty array means no filter), opaque page ids bound to their query, sorting,
// PATCH updates with their close rules, per-key rate windows and per-endpoint
// concurrency limits answered with 429, JSON error bodies and switchable faults.
// It is never used by production code paths.
//
// Routes, below a configurable prefix ("/v2" in the vendor docs, "/public/v2" in
// working integrations):
//
//	POST  {prefix}/auth/token/access   {"api_key": K} or {"refresh_token": K}
//	POST  {prefix}/incidents/list      the filter object of seed 003
//	PATCH {prefix}/incidents/{id}      status, close_reason, close_note, assigned_to
package dlpsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
	"github.com/incident-mcp/incident-mcp/vendors/internal/simfault"
)

// Config shapes one simulated tenant. The zero value is a usable 500-incident
// tenant with the vendor's documented limits.
type Config struct {
	// Seed selects the dataset: the same Seed, Incidents and Now give the same incidents.
	Seed int64
	// Incidents is the dataset size: 0 means 500; a negative value means an empty
	// tenant (useful to test "no results" paths).
	Incidents int
	// Now anchors the dataset: incidents are created in the 90 days before it.
	// Zero means the current time, UTC, truncated to the second.
	Now time.Time
	// PathPrefix is "/v2" when empty; "/public/v2" works too.
	PathPrefix string
	// APIKey is the one key the tenant accepts; "demo-api-key" when empty.
	APIKey string
	// TokenTTL is the access-token lifetime; 15 minutes (expires_in 900) when zero.
	TokenTTL time.Duration
	// RateLimit is the number of accepted requests per window per API key; 60 when zero.
	RateLimit int
	// RateWindow is the fixed window length; one minute when zero. Windows are
	// aligned to multiples of the length since the Unix epoch, so every client
	// sees the same reset instant.
	RateWindow time.Duration
	// MaxConcurrent is the number of requests one endpoint serves at once; 5 when zero.
	MaxConcurrent int
	// Latency delays every accepted request (token and API) while it holds its
	// concurrency slot, so tests can create real overlap.
	Latency time.Duration
}

// Defaults the vendor documents (seed 003 and VENDOR-FACTS).
const (
	DefaultIncidents     = 500
	DefaultPathPrefix    = "/v2"
	DefaultAPIKey        = "demo-api-key"
	DefaultTokenTTL      = 15 * time.Minute
	DefaultRateLimit     = 60
	DefaultRateWindow    = time.Minute
	DefaultMaxConcurrent = 5
)

// Stats counts what the simulator saw; tests assert the driver's manners with it.
type Stats struct {
	Requests          int // every request received, token exchanges included
	TokenRequests     int // requests to the token endpoint
	TooMany           int // 429 answers sent (rate, concurrency and injected)
	MaxConcurrentSeen int // most requests in flight at once on one endpoint
	MaxInWindow       int // most requests accepted in one rate window for one key
	// The attempted counts include requests the simulator refused: what a
	// client tried to send, so a test can prove it stayed within limits.
	MaxConcurrentAttempted int            // most requests arriving while others were in flight on one endpoint, plus one
	MaxAttemptsInWindow    int            // most requests arriving in one rate window for one key
	ByPath                 map[string]int // requests per URL path
}

// Incident is the vendor's incident object, with the vendor's JSON names. Details
// holds values in the shapes encoding/json decodes to (float64, []any, string), so
// an Incident read back from the wire is reflect.DeepEqual to the one Incidents returns.
type Incident struct {
	ID           string         `json:"id"`
	Title        string         `json:"title"`
	Description  string         `json:"description"`
	Severity     string         `json:"severity"`
	Status       string         `json:"status"`
	PolicyID     string         `json:"policy_id"`
	PolicyName   string         `json:"policy_name"`
	EndpointID   string         `json:"endpoint_id"`
	EndpointName string         `json:"endpoint_name"`
	UserID       string         `json:"user_id"`
	UserName     string         `json:"user_name"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	Tags         []string       `json:"tags"`
	AssignedTo   string         `json:"assigned_to,omitempty"`
	CloseReason  string         `json:"close_reason,omitempty"`
	CloseNote    string         `json:"close_note,omitempty"`
	Details      map[string]any `json:"details,omitempty"`
}

// record is one stored incident plus the parsed values the filters and sorts need,
// so a list request never re-parses timestamps.
type record struct {
	inc     Incident
	created int64 // CreatedAt in Unix nanoseconds
	updated int64 // UpdatedAt in Unix nanoseconds, to keep PATCH updates strictly increasing
	sevRank int
}

// route is an endpoint in the vendor's sense: the concurrency limit counts per route,
// so PATCHes to different ids share one limit.
type route int

const (
	routeToken route = iota
	routeList
	routeUpdate
	numRoutes
)

var routeMethod = [numRoutes]string{http.MethodPost, http.MethodPost, http.MethodPatch}

type tokenInfo struct {
	apiKey  string
	expires time.Time
}

type rateWindow struct {
	index    int64 // window number since the epoch
	count    int   // requests accepted in it
	attempts int   // requests that arrived in it, refused ones included
}

// Server is the simulator; it is an http.Handler and safe for concurrent use.
type Server struct {
	cfg    Config
	secret []byte // signs page ids; derived from the seed so page ids are reproducible

	mu          sync.Mutex
	applied     []AppliedWrite // guarded by mu
	recs        []*record
	byID        map[string]int
	orders      [numSortKeys][]int32 // record indexes in ascending (key, id) order
	statusDirty bool                 // a PATCH changed a status: re-sort the status order before use
	tokens      map[string]tokenInfo
	windows     map[string]*rateWindow
	inflight    [numRoutes]int
	partial     string
	denyUpdates bool
	denyReads   bool
	stats       Stats
	fail        simfault.Next
}

// New builds the dataset and returns a ready server.
func New(cfg Config) *Server {
	if cfg.Incidents == 0 {
		cfg.Incidents = DefaultIncidents
	}
	if cfg.Incidents < 0 {
		cfg.Incidents = 0
	}
	cfg.Now = simdata.Anchor(cfg.Now)
	cfg.PathPrefix = strings.TrimRight(cfg.PathPrefix, "/")
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = DefaultPathPrefix
	}
	if !strings.HasPrefix(cfg.PathPrefix, "/") {
		cfg.PathPrefix = "/" + cfg.PathPrefix
	}
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	sum := sha256.Sum256([]byte("dlpsim page id " + strconv.FormatInt(cfg.Seed, 10)))
	s := &Server{
		cfg:     cfg,
		secret:  sum[:],
		tokens:  map[string]tokenInfo{},
		windows: map[string]*rateWindow{},
		stats:   Stats{ByPath: map[string]int{}},
	}
	s.recs = generate(cfg.Seed, cfg.Incidents, cfg.Now)
	s.byID = make(map[string]int, len(s.recs))
	for i, r := range s.recs {
		s.byID[r.inc.ID] = i
	}
	for k := range numSortKeys {
		s.orders[k] = s.buildOrder(sortKey(k))
	}
	return s
}

// Incidents returns a deep copy of the dataset, details included, in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, len(s.recs))
	for i, r := range s.recs {
		out[i] = deepCopy(r.inc)
	}
	return out
}

// FailNext makes the next n requests to the incident endpoints answer status with
// a JSON error body, before authentication and limits. Token exchanges are not
// affected, so "fail the next list" does not also fail the token a driver fetches
// first. n <= 0 cancels pending faults.
func (s *Server) FailNext(status int, n int) { s.fail.Set(status, n) }

// ExpireTokens invalidates every access token issued so far, as a token expiring
// mid-session would.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetPartialError makes the next successful list answer 200 with its results and
// also errors:[{code: PartialErrorCode, message}], the vendor's partial-error form.
func (s *Server) SetPartialError(message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = message
}

// DenyUpdates switches the API key's incident__update permission off (true) or on:
// while off, PATCH answers 403.
func (s *Server) DenyUpdates(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyUpdates = deny
}

// DenyReads switches the incident__read permission off (true) or on: while off,
// the list answers 403.
func (s *Server) DenyReads(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyReads = deny
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByPath = make(map[string]int, len(s.stats.ByPath))
	for k, v := range s.stats.ByPath {
		st.ByPath[k] = v
	}
	return st
}

// PathPrefix returns the effective prefix, e.g. "/v2".
func (s *Server) PathPrefix() string { return s.cfg.PathPrefix }

// APIKey returns the effective API key.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// apiError is one entry of the vendor's errors array.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type errorBody struct {
	Errors []apiError `json:"errors"`
}

// maxBody caps request bodies; a list filter is small, and an unbounded read would
// let a broken client exhaust memory of the test process.
const maxBody = 1 << 20

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.stats.ByPath[r.URL.Path]++
	s.mu.Unlock()

	rt, id, ok := s.match(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "route not found")
		return
	}
	if r.Method != routeMethod[rt] {
		w.Header().Set("Allow", routeMethod[rt])
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+routeMethod[rt])
		return
	}
	if rt == routeToken {
		s.serveToken(w, r)
		return
	}
	s.serveAPI(w, r, rt, id)
}

func (s *Server) match(path string) (route, string, bool) {
	rest, ok := strings.CutPrefix(path, s.cfg.PathPrefix)
	if !ok {
		return 0, "", false
	}
	switch {
	case rest == "/auth/token/access":
		return routeToken, "", true
	case rest == "/incidents/list":
		return routeList, "", true
	case strings.HasPrefix(rest, "/incidents/"):
		id := rest[len("/incidents/"):]
		if id == "" || strings.Contains(id, "/") {
			return 0, "", false
		}
		return routeUpdate, id, true
	}
	return 0, "", false
}

// serveToken exchanges the API key for an access token. Both body forms are
// accepted: the docs say api_key, working clients send refresh_token.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body unreadable or too large")
		return
	}
	// Unknown fields are tolerated here: clients add grant_type and the like.
	var req struct {
		APIKey       string `json:"api_key"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "request body must be a JSON object with api_key or refresh_token")
		return
	}
	key := req.APIKey
	if key == "" {
		key = req.RefreshToken
	}
	if key == "" {
		writeError(w, http.StatusBadRequest, "api_key (or refresh_token) is required")
		return
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
		// A wrong key cannot be attributed to a rate bucket, so it is refused before limits.
		writeError(w, http.StatusUnauthorized, "invalid api key")
		return
	}
	lim, reason := s.admit(routeToken, key)
	if reason != "" {
		s.writeTooMany(w, lim, reason)
		return
	}
	if !s.sleep(r.Context()) {
		s.release(routeToken)
		return
	}
	tok := newToken()
	now := time.Now()
	s.mu.Lock()
	for t, info := range s.tokens {
		if !now.Before(info.expires) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = tokenInfo{apiKey: key, expires: now.Add(s.cfg.TokenTTL)}
	s.mu.Unlock()
	out, _ := json.Marshal(struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}{tok, int64(math.Ceil(s.cfg.TokenTTL.Seconds()))})
	s.release(routeToken)
	lim.set(w)
	writeJSON(w, http.StatusOK, out)
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "dlp_" + hex.EncodeToString(b)
}

// serveAPI runs the common gate of the incident endpoints — injected faults,
// bearer token, concurrency, rate window, latency — and then the handler.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rt route, id string) {
	if status, ok := s.fail.Take(); ok {
		if status == http.StatusTooManyRequests {
			s.mu.Lock()
			s.stats.TooMany++
			s.mu.Unlock()
			// An injected throttle resets within a second so driver tests stay fast.
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(time.Now().Add(time.Second)), 10))
		}
		msg := http.StatusText(status)
		if status == http.StatusUnauthorized {
			msg = msgBadToken
		}
		writeError(w, status, msg)
		return
	}
	key, ok := s.authenticate(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgBadToken)
		return
	}
	lim, reason := s.admit(rt, key)
	if reason != "" {
		s.writeTooMany(w, lim, reason)
		return
	}
	if !s.sleep(r.Context()) {
		s.release(rt)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var status int
	var resp []byte
	switch {
	case err != nil:
		status, resp = errorJSON(http.StatusBadRequest, "request body unreadable or too large")
	case rt == routeList:
		status, resp = s.list(body)
	default:
		status, resp = s.update(id, body)
	}
	// The slot is released before the answer is written: a client that waits for
	// the answer before sending again must never be told it has too many in flight.
	s.release(rt)
	lim.set(w)
	writeJSON(w, status, resp)
}

const msgBadToken = "invalid or expired token"

func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[strings.TrimSpace(tok)]
	if !ok || !time.Now().Before(info.expires) {
		return "", false
	}
	return info.apiKey, true
}

// limit is what the rate headers report for one answer.
type limit struct {
	remaining int
	reset     int64 // Unix seconds, rounded up, when the current window ends
}

func (l limit) set(w http.ResponseWriter) {
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(l.remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(l.reset, 10))
}

// admit takes a concurrency slot on the route and a place in the key's rate window.
// It returns a non-empty reason when the request must be refused with 429; a refused
// request holds nothing and does not count as accepted.
func (s *Server) admit(rt route, key string) (limit, string) {
	now := time.Now()
	win := s.cfg.RateWindow.Nanoseconds()
	idx := now.UnixNano() / win
	reset := ceilUnix(time.Unix(0, (idx+1)*win))

	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[key]
	if w == nil {
		w = &rateWindow{}
		s.windows[key] = w
	}
	if w.index != idx {
		w.index, w.count, w.attempts = idx, 0, 0
	}
	// Attempts are recorded before any refusal, so a test can assert what a
	// client tried, not only what the simulator let through.
	w.attempts++
	s.stats.MaxAttemptsInWindow = max(s.stats.MaxAttemptsInWindow, w.attempts)
	s.stats.MaxConcurrentAttempted = max(s.stats.MaxConcurrentAttempted, s.inflight[rt]+1)
	lim := limit{remaining: max(s.cfg.RateLimit-w.count, 0), reset: reset}
	if s.inflight[rt] >= s.cfg.MaxConcurrent {
		// X-RateLimit-Remaining stays truthful here (it may be > 0), which is how a
		// client tells a concurrency refusal from an exhausted window.
		s.stats.TooMany++
		return lim, "too many concurrent requests on this endpoint"
	}
	if w.count >= s.cfg.RateLimit {
		s.stats.TooMany++
		lim.remaining = 0
		return lim, "rate limit exceeded"
	}
	w.count++
	s.stats.MaxInWindow = max(s.stats.MaxInWindow, w.count)
	s.inflight[rt]++
	s.stats.MaxConcurrentSeen = max(s.stats.MaxConcurrentSeen, s.inflight[rt])
	lim.remaining = s.cfg.RateLimit - w.count
	return lim, ""
}

func (s *Server) release(rt route) {
	s.mu.Lock()
	s.inflight[rt]--
	s.mu.Unlock()
}

func (s *Server) writeTooMany(w http.ResponseWriter, lim limit, reason string) {
	lim.set(w)
	writeError(w, http.StatusTooManyRequests, reason)
}

// sleep applies the configured latency; false when the client went away meanwhile.
func (s *Server) sleep(ctx context.Context) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ceilUnix rounds up to whole Unix seconds: a client sleeping until the reset
// second must not wake inside the old window.
func ceilUnix(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

func errorJSON(status int, msgs ...string) (int, []byte) {
	body := errorBody{Errors: make([]apiError, 0, len(msgs))}
	for _, m := range msgs {
		body.Errors = append(body.Errors, apiError{Code: status, Message: m})
	}
	out, _ := json.Marshal(body)
	return status, out
}

func writeError(w http.ResponseWriter, status int, msg string) {
	_, body := errorJSON(status, msg)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// deepCopy copies an incident so callers can mutate it without touching the dataset.
func deepCopy(in Incident) Incident {
	out := in
	out.Tags = append([]string{}, in.Tags...)
	if in.Details != nil {
		out.Details = copyValue(in.Details).(map[string]any)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = copyValue(e)
		}
		return a
	default:
		return v
	}
}

// errNotObject reports a body that is not a JSON object.
var errNotObject = errors.New("request body must be a JSON object")
