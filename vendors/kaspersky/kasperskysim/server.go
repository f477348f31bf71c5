package kasperskysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
	"github.com/incident-mcp/incident-mcp/vendors/internal/simfault"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// The API surface this simulator serves.
const (
	PathTenants   = "/xdr/api/v1/tenants"
	PathIncidents = "/xdr/api/v1/incidents"
	PathClose     = "/xdr/api/v1/incidents/close"
)

const (
	// PageSize is the vendor's fixed page size for the incident list.
	PageSize = 100
	// DefaultToken is the bearer token created when Config.Tokens is nil.
	DefaultToken = "demo-token"
	// DefaultIncidents is the dataset size when Config.Incidents is 0.
	DefaultIncidents = 500

	// FromInclusive and ToInclusive: the docs do not say whether the from/to bounds of
	// the time window include an incident stamped exactly on them. Unverified
	// assumption: both are inclusive. A client that needs an exclusive bound must drop
	// the boundary records itself (the service re-checks every record anyway).
	FromInclusive = true
	ToInclusive   = true

	// OrderNewestFirst: the order of the list is undocumented. Unverified assumption:
	// newest first by the requested timestampField (CreatedAt when none is given), ties
	// broken by InternalID ascending so paging is stable.
	OrderNewestFirst = true

	// maxCloseBody bounds the close request body; the vendor documents no limit, but an
	// in-memory server must not read an unbounded body.
	maxCloseBody = 4 << 20
)

// Status and resolution values as the vendor stores them.
const (
	StatusOpen       = "open"
	StatusInProgress = "inProgress"
	StatusHold       = "hold"
	StatusClosed     = "closed"

	ResolutionTruePositive  = "truePositive"
	ResolutionFalsePositive = "falsePositive"
	ResolutionLowPriority   = "lowPriority"
	ResolutionMerged        = "merged"
)

// statusFilter maps the list filter's vocabulary to stored statuses. The vendor's
// filter calls open incidents "new"; "open" is accepted as well because the data says
// open and a client may reasonably send what it reads.
var statusFilter = map[string]string{
	"new":            StatusOpen,
	StatusOpen:       StatusOpen,
	StatusInProgress: StatusInProgress,
	StatusHold:       StatusHold,
	StatusClosed:     StatusClosed,
}

// closeReasons are the reasons a client may close with; "merged" exists in the data but
// is set by the console when incidents are merged, never through this call.
var closeReasons = []string{ResolutionTruePositive, ResolutionFalsePositive, ResolutionLowPriority}

// transitions is the incident lifecycle as far as it is known: new → inProgress|closed
// and closed → new only (vendor docs), inProgress and hold → closed. Moves between
// inProgress and hold are left out because nothing documents them. Only the close
// transition is reachable through the API; the table keeps the rule in one place.
var transitions = map[string][]string{
	StatusOpen:       {StatusInProgress, StatusClosed},
	StatusInProgress: {StatusClosed},
	StatusHold:       {StatusClosed},
	StatusClosed:     {StatusOpen},
}

// timestampFields maps the list's timestampField values to the record's times.
var timestampFields = map[string]func(*Incident) time.Time{
	"createdAt":       func(in *Incident) time.Time { return in.CreatedAt },
	"updatedAt":       func(in *Incident) time.Time { return in.UpdatedAt },
	"statusChangedAt": func(in *Incident) time.Time { return in.StatusChangedAt },
}

// defaultTimestampField orders the list when the request names no timestampField.
const defaultTimestampField = "createdAt"

// Config sets up a simulator. The zero value is a usable demo server.
type Config struct {
	Seed      int64               // same Seed+Incidents+Now (and Tenants) => identical dataset
	Incidents int                 // dataset size; 0 => DefaultIncidents
	Now       time.Time           // reference time; zero => time.Now().UTC() truncated to the second
	Tenants   []Tenant            // zero => DefaultTenants()
	Tokens    map[string][]string // bearer token => readable tenant IDs; nil => DefaultToken reads every tenant but the restricted one
}

// Stats counts the requests the server has seen, for assertions in tests.
type Stats struct {
	Requests  int
	ByPath    map[string]int
	LastQuery string // raw query string of the last request
}

// Server is the simulator; it is an http.Handler and safe for concurrent use.
type Server struct {
	tenants []Tenant
	tokens  map[string]map[string]bool // token => readable tenant IDs

	mu        sync.RWMutex   // guards the incidents' mutable fields
	incidents []*Incident    // creation order
	closes    map[string]int // applied closes by InternalID
	byID      map[string]*Incident

	// orderMu guards orders, the list sorted per timestampField. Built lazily under
	// mu.RLock (readers may race to build it) and dropped under mu.Lock when a close
	// changes UpdatedAt/StatusChangedAt, so paging 50 000 records does not sort per page.
	orderMu sync.Mutex
	orders  map[string][]*Incident

	statsMu sync.Mutex
	stats   Stats

	fail simfault.Next
}

// New builds a server and its deterministic dataset.
func New(cfg Config) *Server {
	if cfg.Incidents <= 0 {
		cfg.Incidents = DefaultIncidents
	}
	cfg.Now = simdata.Anchor(cfg.Now)
	tenants, weights, readable := DefaultTenants(), defaultTenantWeights, defaultReadable
	if len(cfg.Tenants) > 0 {
		tenants, weights, readable = customTenants(cfg.Tenants)
	}
	s := &Server{
		tenants: tenants,
		tokens:  map[string]map[string]bool{},
		byID:    make(map[string]*Incident, cfg.Incidents),
		orders:  map[string][]*Incident{},
		stats:   Stats{ByPath: map[string]int{}},
	}
	if cfg.Tokens == nil {
		ids := map[string]bool{}
		for i, t := range tenants {
			if readable[i] {
				ids[t.ID] = true
			}
		}
		s.tokens[DefaultToken] = ids
	}
	for tok, ids := range cfg.Tokens {
		set := map[string]bool{}
		for _, id := range ids {
			set[id] = true
		}
		s.tokens[tok] = set
	}
	s.incidents = generate(cfg, tenants, weights, readable)
	for _, in := range s.incidents {
		s.byID[in.InternalID] = in
	}
	return s
}

// Tenants returns every tenant, readable or not, in configuration order.
func (s *Server) Tenants() []Tenant {
	out := make([]Tenant, len(s.tenants))
	for i, t := range s.tenants {
		t.Subtenants = slices.Clone(t.Subtenants)
		out[i] = t
	}
	return out
}

// Incidents returns a deep copy of the whole dataset in creation order, with Assets and
// HistoryRecords. Nothing returned aliases the server's state; incidents naming the same
// host or account share one copy of its record within the returned slice.
func (s *Server) Incidents() []Incident {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := newCopier()
	out := make([]Incident, len(s.incidents))
	for i, in := range s.incidents {
		out[i] = c.incident(in)
	}
	return out
}

// Closes counts the closes applied to each incident, by InternalID: a test
// counts how often a write reached the data, not just what it became.
func (s *Server) Closes() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.closes)
}

// FailNext makes the next n requests to a known route answer status with a vendor-style
// error body, before authentication, as a failing gateway or backend would. n <= 0 clears.
func (s *Server) FailNext(status int, n int) { s.fail.Set(status, n) }

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.ByPath = maps.Clone(s.stats.ByPath)
	return st
}

type route struct {
	method string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, readable map[string]bool)
}

var routes = map[string]route{
	PathTenants:   {http.MethodGet, (*Server).listTenants},
	PathIncidents: {http.MethodGet, (*Server).listIncidents},
	PathClose:     {http.MethodPost, (*Server).closeIncidents},
}

// ServeHTTP routes, injects faults, authenticates and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.statsMu.Lock()
	s.stats.Requests++
	s.stats.ByPath[r.URL.Path]++
	s.stats.LastQuery = r.URL.RawQuery
	s.statsMu.Unlock()

	rt, ok := routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "not found", "")
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		return
	}
	if code, ok := s.fail.Take(); ok {
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, code, strings.ToLower(http.StatusText(code)), "fault injected by the simulator")
		return
	}
	readable, code, msg := s.authenticate(r)
	if code != 0 {
		writeError(w, code, msg, "")
		return
	}
	rt.handle(s, w, r, readable)
}

// authenticate checks "Authorization: Bearer <token>". The scheme is matched without
// regard to case, as RFC 9110 says auth schemes are case-insensitive.
func (s *Server) authenticate(r *http.Request) (map[string]bool, int, string) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, http.StatusBadRequest, "invalid authorization header"
	}
	readable, ok := s.tokens[token]
	if !ok {
		return nil, http.StatusForbidden, "access denied"
	}
	return readable, 0, ""
}

// listTenants answers the tenants the token can read. Subtenant ids the token cannot
// read are left out too (unverified: the docs do not say; not leaking them is the
// conservative reading).
func (s *Server) listTenants(w http.ResponseWriter, _ *http.Request, readable map[string]bool) {
	out := []Tenant{}
	for _, t := range s.Tenants() {
		if !readable[t.ID] {
			continue
		}
		t.Subtenants = slices.DeleteFunc(t.Subtenants, func(id string) bool { return !readable[id] })
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, out)
}

// apiError is the vendor's error body.
type apiError struct {
	status  int
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}

func badRequest(msg, details string) *apiError {
	return &apiError{status: http.StatusBadRequest, Message: msg, Details: details}
}

// listQuery is a validated GET /incidents request.
type listQuery struct {
	page                      int
	tenants                   []string
	ids                       map[string]bool // nil: no id filter
	statuses                  map[string]bool // nil: no status filter
	name                      *regexp.Regexp
	field                     string
	from, to                  *time.Time
	withAffected, withHistory bool
}

func parseListQuery(q url.Values) (*listQuery, *apiError) {
	lq := &listQuery{page: 1, field: defaultTimestampField, tenants: q["tenantID"]}
	// Absent, unparsable and below-1 pages all mean page 1: the docs say so for absent
	// and below 1, and a tolerant reading extends it to garbage.
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		lq.page = p
	}
	if len(lq.tenants) == 0 {
		return nil, badRequest("tenantID required", "")
	}
	if vs, ok := q["id"]; ok {
		lq.ids = map[string]bool{}
		for _, v := range vs {
			if !wire.IsUUID(v) {
				return nil, badRequest("invalid id", fmt.Sprintf("%q is not a UUID", v))
			}
			lq.ids[strings.ToLower(v)] = true
		}
	}
	if vs, ok := q["status"]; ok {
		lq.statuses = map[string]bool{}
		for _, v := range vs {
			st, ok := statusFilter[v]
			if !ok {
				return nil, badRequest("invalid status", fmt.Sprintf("%q is not one of new, inProgress, hold, closed", v))
			}
			lq.statuses[st] = true
		}
	}
	if q.Has("name") {
		re, err := regexp.Compile(q.Get("name"))
		if err != nil {
			return nil, badRequest("invalid name", err.Error())
		}
		lq.name = re
	}
	if q.Has("timestampField") {
		lq.field = q.Get("timestampField")
		if _, ok := timestampFields[lq.field]; !ok {
			return nil, badRequest("invalid timestamp field", fmt.Sprintf("%q is not one of createdAt, updatedAt, statusChangedAt", lq.field))
		}
	}
	for _, b := range []struct {
		key string
		dst **time.Time
	}{{"from", &lq.from}, {"to", &lq.to}} {
		if !q.Has(b.key) {
			continue
		}
		if !q.Has("timestampField") {
			return nil, badRequest("timestamp field required", b.key+" needs timestampField")
		}
		// Strict RFC 3339. The docs' third example "2021-09-06T00:00:00Z+00:00" is not
		// RFC 3339 and is rejected like any other unparsable value.
		t, err := time.Parse(time.RFC3339Nano, q.Get(b.key))
		if err != nil {
			return nil, badRequest("cannot parse "+b.key, err.Error())
		}
		*b.dst = &t
	}
	// Presence is what counts: the docs' examples are "?withAffected" and
	// "?withAffected=123", so any value, even "false", turns the flag on.
	lq.withAffected, lq.withHistory = q.Has("withAffected"), q.Has("withHistory")
	return lq, nil
}

func (lq *listQuery) match(in *Incident) bool {
	if !slices.Contains(lq.tenants, in.TenantID) {
		return false
	}
	if lq.ids != nil && !lq.ids[in.InternalID] {
		return false
	}
	if lq.statuses != nil && !lq.statuses[in.Status] {
		return false
	}
	if lq.from != nil || lq.to != nil {
		t := timestampFields[lq.field](in)
		if lq.from != nil && (t.Before(*lq.from) || !FromInclusive && t.Equal(*lq.from)) {
			return false
		}
		if lq.to != nil && (t.After(*lq.to) || !ToInclusive && t.Equal(*lq.to)) {
			return false
		}
	}
	// PCRE semantics: unanchored search, so a pattern matches anywhere in the name.
	return lq.name == nil || lq.name.MatchString(in.Name)
}

type listResponse struct {
	Total     int        `json:"Total"`
	Incidents []Incident `json:"Incidents"`
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, readable map[string]bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeAPIError(w, badRequest("invalid query", err.Error()))
		return
	}
	lq, apiErr := parseListQuery(q)
	if apiErr != nil {
		writeAPIError(w, apiErr)
		return
	}
	// Syntax first, then rights: one unreadable tenant fails the whole query.
	for _, t := range lq.tenants {
		if !readable[t] {
			writeAPIError(w, &apiError{status: http.StatusForbidden, Message: "access denied"})
			return
		}
	}

	s.mu.RLock()
	start := len(s.incidents) // a page past the end (also guards (page-1)*PageSize overflow)
	if lq.page-1 <= len(s.incidents)/PageSize {
		start = (lq.page - 1) * PageSize
	}
	resp := listResponse{Incidents: []Incident{}}
	for _, in := range s.sorted(lq.field) {
		if !lq.match(in) {
			continue
		}
		if resp.Total >= start && len(resp.Incidents) < PageSize {
			// A shallow copy is enough: it is encoded before the lock is released.
			v := *in
			if !lq.withAffected {
				v.Assets = nil
			}
			if !lq.withHistory {
				v.HistoryRecords = nil
			}
			resp.Incidents = append(resp.Incidents, v)
		}
		resp.Total++
	}
	body, err := json.Marshal(resp)
	s.mu.RUnlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// sorted returns the dataset in list order for one timestamp field. Callers hold s.mu.
func (s *Server) sorted(field string) []*Incident {
	s.orderMu.Lock()
	defer s.orderMu.Unlock()
	if o, ok := s.orders[field]; ok {
		return o
	}
	key := timestampFields[field]
	o := slices.Clone(s.incidents)
	slices.SortFunc(o, func(a, b *Incident) int {
		c := key(a).Compare(key(b))
		if OrderNewestFirst {
			c = -c
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.InternalID, b.InternalID)
	})
	s.orders[field] = o
	return o
}

// closeItem is one element of the close request body.
type closeItem struct {
	ID       string `json:"ID"`
	TenantID string `json:"TenantID"`
	Reason   string `json:"Reason"`
}

// closeIncidents validates every item before changing anything, so a failing batch
// leaves no incident half-closed. Items are checked in order and the first failure is
// the answer. An empty array is a successful no-op (undocumented; the tolerant choice).
func (s *Server) closeIncidents(w http.ResponseWriter, r *http.Request, readable map[string]bool) {
	var raw json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCloseBody)).Decode(&raw); err != nil {
		writeAPIError(w, badRequest("invalid request body", err.Error()))
		return
	}
	var items []closeItem
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		writeAPIError(w, badRequest("invalid request body", "the body must be a JSON array of {ID, TenantID, Reason}"))
		return
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		writeAPIError(w, badRequest("invalid request body", err.Error()))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	closing := map[*Incident]string{} // the batch's own effect, so a repeated item is judged against it
	var apply []*Incident
	for i, it := range items {
		if apiErr := s.checkClose(it, readable, closing); apiErr != nil {
			if apiErr.Details == "" {
				apiErr.Details = fmt.Sprintf("item %d", i)
			}
			writeAPIError(w, apiErr)
			return
		}
		in := s.byID[strings.ToLower(it.ID)]
		if _, seen := closing[in]; !seen && in.Status != StatusClosed {
			apply = append(apply, in)
		}
		closing[in] = it.Reason
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, in := range apply {
		in.HistoryRecords = append(in.HistoryRecords, HistoryRecord{
			EntityID:   in.InternalID,
			EntityKind: "Incident",
			TenantID:   in.TenantID,
			Type:       "incidentStatusChanged",
			CreatedAt:  now,
			Params:     map[string]string{"oldStatus": in.Status, "newStatus": StatusClosed, "resolution": closing[in]},
		})
		in.Status, in.StatusResolution = StatusClosed, closing[in]
		if s.closes == nil {
			s.closes = map[string]int{}
		}
		s.closes[in.InternalID]++
		in.StatusChangedAt, in.UpdatedAt = now, now
	}
	if len(apply) > 0 {
		s.orderMu.Lock()
		delete(s.orders, "updatedAt")
		delete(s.orders, "statusChangedAt")
		s.orderMu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkClose validates one close item against the state the batch would leave.
// An id that is not a UUID cannot name an incident, so it is "not found" here (the
// close call documents no "invalid id" error, unlike the list).
func (s *Server) checkClose(it closeItem, readable map[string]bool, closing map[*Incident]string) *apiError {
	switch {
	case it.ID == "":
		return badRequest("id required", "")
	case it.Reason == "":
		return badRequest("reason required", "")
	case !slices.Contains(closeReasons, it.Reason):
		return badRequest("invalid reason", fmt.Sprintf("%q is not one of %s", it.Reason, strings.Join(closeReasons, ", ")))
	case !readable[it.TenantID]:
		return &apiError{status: http.StatusForbidden, Message: "access denied"}
	}
	in := s.byID[strings.ToLower(it.ID)]
	if in == nil || in.TenantID != it.TenantID {
		return &apiError{status: http.StatusNotFound, Message: "incident not found", Details: it.ID}
	}
	status, resolution := in.Status, in.StatusResolution
	if r, ok := closing[in]; ok {
		status, resolution = StatusClosed, r
	}
	if status == StatusClosed {
		if resolution == it.Reason {
			return nil // closing again the same way is idempotent
		}
		return badRequest("incident already closed", fmt.Sprintf("%s is closed as %s", it.ID, resolution))
	}
	if !slices.Contains(transitions[status], StatusClosed) {
		return badRequest("invalid status transition", fmt.Sprintf("%s → %s", status, StatusClosed))
	}
	return nil
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, e)
}

func writeError(w http.ResponseWriter, status int, msg, details string) {
	writeJSON(w, status, &apiError{Message: msg, Details: details})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
