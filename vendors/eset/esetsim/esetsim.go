// Package esetsim simulates the ESET Connect Incident Management API over
// HTTP, in memory, so that the ESET driver can be tested, benchmarked and
// demonstrated without an ESET tenant.
//
// It models the vendor's rules rather than echoing requests: OAuth password
// and rotating refresh grants, bearer-token expiry, a per-credentials rate
// limit, the CEL filter (evaluated with cel-go over ESET's field names and
// restricted the way ESET restricts it), orderBy, opaque page tokens, the
// 202 + response-id protocol, error bodies, and switchable faults. Where the
// vendor documents nothing, the choice is a named constant with a comment.
package esetsim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
	"github.com/incident-mcp/incident-mcp/vendors/internal/simfault"
)

// Config describes one simulated tenant.
type Config struct {
	Seed      int64         // dataset seed; same Seed, Incidents and Now give an identical dataset
	Incidents int           // dataset size; 0 means 500
	Now       time.Time     // reference time; zero means now (UTC, whole seconds)
	Username  string        // accepted user; empty means "demo"
	Password  string        // accepted password; empty means "demo"
	TokenTTL  time.Duration // access-token lifetime; 0 means 1h, the vendor's
	RateLimit int           // requests per second per credentials; 0 means 10, the vendor's; negative means unlimited
}

// Stats counts what clients sent.
type Stats struct {
	Requests       int // API requests, /oauth/token excluded, whatever their outcome
	TokenRequests  int // requests to /oauth/token
	PasswordGrants int // successful password grants
	RefreshGrants  int // successful refresh grants
	TooMany        int // 429 answers sent
	// MaxInSecond is the most API requests that arrived within any one
	// second, refused ones included: what a client tried, so a test can
	// prove it never asked for more than the limit.
	MaxInSecond int
	// ByPath counts requests by method and route pattern, e.g.
	// "GET /v2/incidents/{uuid}" or "POST /oauth/token". Paths that match no
	// route are not counted here.
	ByPath map[string]int
}

const (
	defaultIncidents = 500
	defaultTokenTTL  = time.Hour
	defaultRateLimit = 10
	maxBodyBytes     = 1 << 20
	// pendingTTL is how long a 202 answer can be collected, per the vendor.
	pendingTTL = 10 * time.Minute
	// listCacheSize bounds the cached (filter, orderBy) result orderings.
	listCacheSize = 16
)

// Server is the simulated API; it is an http.Handler and safe for
// concurrent use.
type Server struct {
	cfg        Config
	filters    *filterCompiler
	tokenKey   [32]byte // MAC key for page tokens, derived from the seed so two equal servers answer identically
	authorUUID string   // comment author for the API user
	// now is the wall clock for token expiry, rate limiting and write
	// timestamps; tests replace it.
	now func() time.Time

	mu     sync.RWMutex // guards the dataset
	recs   []*record    // creation order
	byUUID map[string]*record
	// detections maps a detection uuid to its incident.
	detections map[string]*record
	version    uint64 // bumped by every write; keys listCache

	cacheMu   sync.Mutex
	listCache map[string]cachedList

	fail simfault.Next // FailNext's failures; it locks itself

	ctl        sync.Mutex // guards everything below
	access     map[string]accessToken
	refresh    map[string]string // refresh token → user
	rate       map[string][]time.Time
	stats      Stats
	asyncPolls int
	pending    map[string]*pendingResponse
	arrivals   []time.Time // API requests of the last second, for MaxInSecond
}

// Forever, passed to SetAsync, makes the simulator answer 202 to every
// collection: the vendor never finishes preparing the answer.
const Forever = math.MaxInt32

type accessToken struct {
	user    string
	expires time.Time
}

// New builds a server with its dataset.
func New(cfg Config) *Server {
	if cfg.Incidents <= 0 {
		cfg.Incidents = defaultIncidents
	}
	cfg.Now = simdata.Anchor(cfg.Now)
	cfg.Now = cfg.Now.UTC()
	if cfg.Username == "" {
		cfg.Username = "demo"
	}
	if cfg.Password == "" {
		cfg.Password = "demo"
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = defaultTokenTTL
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = defaultRateLimit
	}
	fc, err := newFilterCompiler()
	if err != nil {
		// The environment is static; failing here is a programming error.
		panic(fmt.Sprintf("esetsim: building the CEL environment: %v", err))
	}
	s := &Server{
		cfg:        cfg,
		filters:    fc,
		tokenKey:   sha256.Sum256([]byte("esetsim page token " + strconv.FormatInt(cfg.Seed, 10))),
		authorUUID: nameUUID("user:" + cfg.Username),
		now:        time.Now,
		recs:       generate(cfg.Seed, cfg.Incidents, cfg.Now),
		listCache:  map[string]cachedList{},
		access:     map[string]accessToken{},
		refresh:    map[string]string{},
		rate:       map[string][]time.Time{},
		stats:      Stats{ByPath: map[string]int{}},
		pending:    map[string]*pendingResponse{},
	}
	s.byUUID = make(map[string]*record, len(s.recs))
	for _, r := range s.recs {
		s.byUUID[r.inc.UUID] = r
	}
	s.indexDetections()
	return s
}

// Incidents returns a deep copy of the dataset in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Incident, len(s.recs))
	for i, r := range s.recs {
		out[i] = r.inc.clone()
	}
	return out
}

// SetAsync makes every later API request answer 202 with a response-id
// first; the identical request re-sent with that response-id header gets
// 202 polls-1 more times, then the real answer once, then 404. The request
// takes effect when first received, as a cached vendor request would.
// SetAsync(0) turns this off; pending answers stay collectable.
func (s *Server) SetAsync(polls int) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	s.asyncPolls = max(polls, 0)
}

// FailNext makes the next n API requests that pass authentication and the
// rate limit answer status with an error body, as the vendor's backend would
// behind its gateway.
func (s *Server) FailNext(status int, n int) { s.fail.Set(status, n) }

// ExpireTokens expires every access token issued so far; refresh tokens
// stay valid.
func (s *Server) ExpireTokens() {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	clear(s.access)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	st := s.stats
	st.ByPath = maps.Clone(s.stats.ByPath)
	return st
}

// response is a complete answer, kept whole so that a 202 can hand it out
// later.
type response struct {
	status int
	header http.Header
	body   []byte
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, "encoding response: "+err.Error())
	}
	return response{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

// grpcCodes maps HTTP statuses to the google.rpc.Code the gateway puts in
// error bodies.
var grpcCodes = map[int]int{
	http.StatusBadRequest:            3,  // INVALID_ARGUMENT
	http.StatusUnauthorized:          16, // UNAUTHENTICATED
	http.StatusForbidden:             7,  // PERMISSION_DENIED
	http.StatusNotFound:              5,  // NOT_FOUND
	http.StatusMethodNotAllowed:      12, // UNIMPLEMENTED
	http.StatusConflict:              10, // ABORTED
	http.StatusRequestEntityTooLarge: 3,
	http.StatusTooManyRequests:       8,  // RESOURCE_EXHAUSTED
	http.StatusInternalServerError:   13, // INTERNAL
	http.StatusNotImplemented:        12,
	http.StatusBadGateway:            14, // UNAVAILABLE
	http.StatusServiceUnavailable:    14,
	http.StatusGatewayTimeout:        4, // DEADLINE_EXCEEDED
}

// The vendor's own wording for each status, from the API reference.
var statusMessages = map[int]string{
	http.StatusForbidden:           "Access denied. Check permissions.",
	http.StatusInternalServerError: "Internal server failure. Try again later.",
	http.StatusBadGateway:          "Internal server failure. Try again later.",
	http.StatusServiceUnavailable:  "Environment under maintenance. Try again later.",
	http.StatusGatewayTimeout:      "Action took too long; timeout reached",
}

type errorBody struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Details []map[string]any `json:"details"`
}

func errorResponse(status int, msg string) response {
	return errorWith(status, grpcCodes[status], msg, nil)
}

func errorWith(status, code int, msg string, details []map[string]any) response {
	if code == 0 {
		code = 2 // UNKNOWN
	}
	if details == nil {
		details = []map[string]any{}
	}
	return jsonResponse(status, errorBody{Code: code, Message: msg, Details: details})
}

// badRequest is INVALID_ARGUMENT with a google.rpc.BadRequest detail naming
// the offending field, the way gRPC gateways report validation errors.
func badRequest(fieldName, msg, detail string) response {
	return errorWith(http.StatusBadRequest, 3, msg, []map[string]any{{
		"@type": "type.googleapis.com/google.rpc.BadRequest",
		"fieldViolations": []map[string]string{{
			"field":       fieldName,
			"description": detail,
		}},
	}})
}

// failedPrecondition is how the vendor refuses a valid request that the
// incident's state forbids (closing a closed incident); gateways map it to 400.
func failedPrecondition(msg string) response {
	return errorWith(http.StatusBadRequest, 9, msg, nil)
}

func (resp response) write(w http.ResponseWriter) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b, 4)
}

// nameUUID derives a stable UUID-shaped identifier from a name.
func nameUUID(name string) string {
	h := sha256.Sum256([]byte(name))
	return formatUUID([16]byte(h[:16]), 5)
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Route patterns, also the keys of Stats.ByPath after the method.
const (
	routeList    = "/v2/incidents"
	routeGet     = "/v2/incidents/{uuid}"
	routeUpdate  = "/v2/incidents/{uuid}/basic-attributes:update"
	routeClose   = "/v2/incidents/{uuid}:close"
	routeReopen  = "/v2/incidents/{uuid}:reopen"
	routeComment = "/v2/incidents/{uuid}/comments"
	routeToken   = "/oauth/token"
)

// matchRoute parses the path by hand: ESET's custom verbs (":close") are
// not expressible as ServeMux patterns.
func matchRoute(path string) (pattern, id string, ok bool) {
	if pattern, id, ok := matchDetectionRoute(path); ok {
		return pattern, id, true
	}
	rest, ok := strings.CutPrefix(path, routeList)
	if !ok {
		return "", "", false
	}
	if rest == "" {
		return routeList, "", true
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return "", "", false
	}
	if id, sub, found := strings.Cut(rest, "/"); found {
		if id == "" || strings.Contains(id, ":") {
			return "", "", false
		}
		switch sub {
		case "basic-attributes:update":
			return routeUpdate, id, true
		case "comments":
			return routeComment, id, true
		}
		return "", "", false
	}
	id, verb, hasVerb := strings.Cut(rest, ":")
	if id == "" {
		return "", "", false
	}
	switch {
	case !hasVerb:
		return routeGet, id, true
	case verb == "close":
		return routeClose, id, true
	case verb == "reopen":
		return routeReopen, id, true
	}
	return "", "", false
}

func allowedMethods(pattern string) []string {
	switch pattern {
	case routeList, routeGet, routeDetection:
		return []string{http.MethodGet}
	case routeComment:
		return []string{http.MethodGet, http.MethodPost}
	}
	return []string{http.MethodPost}
}

// ServeHTTP answers one request in the order a gateway in front of the
// vendor's backend would: route, authentication, rate limit, injected
// faults, the 202 protocol, then the operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("request-id", randomUUID())
	if r.URL.Path == routeToken {
		s.serveToken(w, r)
		return
	}

	pattern, id, ok := matchRoute(r.URL.Path)
	s.ctl.Lock()
	s.stats.Requests++
	if ok {
		s.stats.ByPath[r.Method+" "+pattern]++
	}
	s.countArrival(s.now())
	s.ctl.Unlock()
	if !ok {
		errorResponse(http.StatusNotFound, "Not Found").write(w)
		return
	}
	if allowed := allowedMethods(pattern); !slices.Contains(allowed, r.Method) {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		errorResponse(http.StatusMethodNotAllowed, "Method Not Allowed").write(w)
		return
	}

	user, resp, ok := s.authenticate(r)
	if !ok {
		resp.write(w)
		return
	}
	if !s.allow(user) {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if resp, failed := s.injectedFault(); failed {
		resp.write(w)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		errorResponse(http.StatusRequestEntityTooLarge, "request body too large").write(w)
		return
	}
	exec := func() response { return s.dispatch(r, pattern, id, body) }
	if s.serveAsync(w, r, body, exec) {
		return
	}
	exec().write(w)
}

func (s *Server) dispatch(r *http.Request, pattern, id string, body []byte) response {
	switch pattern {
	case routeList:
		return s.list(r.URL.Query())
	case routeGet:
		return s.get(id)
	case routeUpdate:
		return s.updateBasic(id, body)
	case routeClose:
		return s.closeIncident(id, body)
	case routeReopen:
		return s.reopen(id, body)
	case routeDetection:
		return s.getDetection(id)
	case routeBatchGet:
		return s.batchGet(body)
	case routeComment:
		if r.Method == http.MethodGet {
			return s.listComments(id)
		}
		return s.addComment(id, body)
	}
	return errorResponse(http.StatusNotFound, "Not Found")
}

// authenticate resolves the bearer token to its user. The vendor answers a
// missing or malformed header with 400 and a bad or expired token with 401.
func (s *Server) authenticate(r *http.Request) (string, response, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", errorWith(http.StatusBadRequest, 3, "missing or malformed Authorization header; expected \"Bearer <access token>\"", nil), false
	}
	s.ctl.Lock()
	at, ok := s.access[tok]
	s.ctl.Unlock()
	if !ok || !s.now().Before(at.expires) {
		return "", errorResponse(http.StatusUnauthorized, "Token has expired or is invalid."), false
	}
	return at.user, response{}, true
}

// allow applies a sliding one-second window per credentials. Refused
// requests do not count, so a client that backs off recovers within a second.
func (s *Server) allow(user string) bool {
	if s.cfg.RateLimit < 0 {
		return true
	}
	now := s.now()
	s.ctl.Lock()
	defer s.ctl.Unlock()
	log := s.rate[user]
	i := 0
	for i < len(log) && !log[i].After(now.Add(-time.Second)) {
		i++
	}
	log = log[i:]
	if len(log) >= s.cfg.RateLimit {
		s.rate[user] = log
		s.stats.TooMany++
		return false
	}
	s.rate[user] = append(log, now)
	return true
}

// countArrival keeps MaxInSecond; the caller holds s.ctl.
func (s *Server) countArrival(now time.Time) {
	i := 0
	for i < len(s.arrivals) && !s.arrivals[i].After(now.Add(-time.Second)) {
		i++
	}
	s.arrivals = append(s.arrivals[i:], now)
	s.stats.MaxInSecond = max(s.stats.MaxInSecond, len(s.arrivals))
}

func (s *Server) injectedFault() (response, bool) {
	status, ok := s.fail.Take()
	if !ok {
		return response{}, false
	}
	msg, ok := statusMessages[status]
	if !ok {
		msg = http.StatusText(status)
	}
	return errorResponse(status, msg), true
}

type pendingResponse struct {
	key     [32]byte // identity of the request that created it
	left    int      // 202s still to answer
	resp    response
	created time.Time
}

func requestKey(r *http.Request, body []byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", r.Method, r.URL.Path, r.URL.RawQuery)
	h.Write(body)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// serveAsync implements the 202 protocol; it reports whether it answered.
func (s *Server) serveAsync(w http.ResponseWriter, r *http.Request, body []byte, exec func() response) bool {
	rid := r.Header.Get("response-id")
	s.ctl.Lock()
	polls := s.asyncPolls
	s.ctl.Unlock()
	if rid == "" && polls == 0 {
		return false
	}
	key := requestKey(r, body)
	now := s.now()

	if rid != "" {
		s.ctl.Lock()
		p := s.pending[rid]
		if p != nil && now.Sub(p.created) > pendingTTL {
			delete(s.pending, rid)
			p = nil
		}
		if p == nil || p.key != key {
			s.ctl.Unlock()
			errorResponse(http.StatusNotFound, "no pending response for this response-id and request").write(w)
			return true
		}
		if p.left > 0 {
			p.left--
			s.ctl.Unlock()
			w.Header().Set("response-id", rid)
			w.WriteHeader(http.StatusAccepted)
			return true
		}
		delete(s.pending, rid)
		s.ctl.Unlock()
		p.resp.write(w)
		return true
	}

	resp := exec()
	rid = randomUUID()
	s.ctl.Lock()
	for k, p := range s.pending {
		if now.Sub(p.created) > pendingTTL {
			delete(s.pending, k)
		}
	}
	s.pending[rid] = &pendingResponse{key: key, left: polls - 1, resp: resp, created: now}
	s.ctl.Unlock()
	w.Header().Set("response-id", rid)
	w.WriteHeader(http.StatusAccepted)
	return true
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func oauthError(code, desc string) response {
	resp := jsonResponse(http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
	resp.header.Set("Cache-Control", "no-store")
	return resp
}

// serveToken is the identity provider's token endpoint. It lives on another
// host at ESET; one handler keeps the simulator a single base URL.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.ctl.Lock()
	s.stats.TokenRequests++
	s.stats.ByPath[r.Method+" "+routeToken]++
	s.ctl.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		errorResponse(http.StatusMethodNotAllowed, "Method Not Allowed").write(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		oauthError("invalid_request", "the body must be application/x-www-form-urlencoded").write(w)
		return
	}
	form := r.PostForm
	var user string
	switch gt := form.Get("grant_type"); gt {
	case "password":
		u, p := form.Get("username"), form.Get("password")
		if subtle.ConstantTimeCompare([]byte(u), []byte(s.cfg.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.cfg.Password)) != 1 {
			oauthError("invalid_grant", "invalid username or password").write(w)
			return
		}
		user = u
		s.ctl.Lock()
		s.stats.PasswordGrants++
		s.ctl.Unlock()
	case "refresh_token":
		rt := form.Get("refresh_token")
		s.ctl.Lock()
		u, ok := s.refresh[rt]
		if ok {
			// Rotation: a refresh token is good for one exchange only.
			delete(s.refresh, rt)
			s.stats.RefreshGrants++
		}
		s.ctl.Unlock()
		if !ok || rt == "" {
			oauthError("invalid_grant", "invalid or already used refresh token").write(w)
			return
		}
		user = u
	case "":
		oauthError("invalid_request", "grant_type is required").write(w)
		return
	default:
		oauthError("unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", gt)).write(w)
		return
	}

	access, refresh := randomToken(), randomToken()
	now := s.now()
	s.ctl.Lock()
	for k, at := range s.access {
		if !now.Before(at.expires) {
			delete(s.access, k)
		}
	}
	s.access[access] = accessToken{user: user, expires: now.Add(s.cfg.TokenTTL)}
	s.refresh[refresh] = user
	s.ctl.Unlock()

	resp := jsonResponse(http.StatusOK, tokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "Bearer",
		// Rounded up so that a sub-second TTL in tests does not read as 0.
		ExpiresIn: int64((s.cfg.TokenTTL + time.Second - 1) / time.Second),
	})
	resp.header.Set("Cache-Control", "no-store")
	resp.write(w)
}

// decodeBody reads a JSON request body. Unknown fields are ignored, as the
// vendor's gateway does; an empty body is an empty message.
func decodeBody(body []byte, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	return json.Unmarshal(body, v) == nil
}
