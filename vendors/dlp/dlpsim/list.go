package dlpsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The vendor documents created_after as "after" and created_before as "before"
// without saying whether the bound itself matches. Unverified: the simulator takes
// both as strict (created_at > after, created_at < before). A driver that needs an
// inclusive bound must widen by one unit and let the local re-check decide.
const (
	CreatedAfterExclusive  = true
	CreatedBeforeExclusive = true
)

// Paging limits from seed 003 ("max 100"); the default of 50 is unverified.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// PartialErrorCode is the code of the error entry a partial-error answer carries
// next to its results. The vendor only documents errors:[{code, message}] on 200
// (code 0 meaning none); the concrete code is unverified, so drivers should treat
// any entry with a non-zero code as a warning.
const PartialErrorCode = 500

// Severity and status vocabularies with their sort ranks. Severity ranks follow
// seriousness; status ranks follow the workflow (open < investigating < resolved
// < closed) — the vendor does not document how it orders statuses (unverified).
var (
	severityRank = map[string]int{"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
	statusRank   = map[string]int{"open": 0, "investigating": 1, "resolved": 2, "closed": 3}
)

// severities and statuses are the vendor's values in rank order; arrays, so no
// caller can change what the simulator accepts.
var (
	severities = [...]string{"informational", "low", "medium", "high", "critical"}
	statuses   = [...]string{"open", "investigating", "resolved", "closed"}
)

// Severities and Statuses list the valid values in rank order (copies: changing
// them does not change the simulator).
var (
	Severities = slices.Clone(severities[:])
	Statuses   = slices.Clone(statuses[:])
)

// errBadPageID covers every way a page id can fail to decode or verify; the
// client learns only that it is invalid, as with any opaque token.
var errBadPageID = errors.New("invalid page_id")

type sortKey int

const (
	sortCreated sortKey = iota
	sortSeverity
	sortStatus
	numSortKeys
)

var sortNames = map[string]sortKey{"created_at": sortCreated, "severity": sortSeverity, "status": sortStatus}

func (k sortKey) String() string {
	return [...]string{"created_at", "severity", "status"}[k]
}

// key is the primary sort value of a record; ties are broken by id.
func (r *record) key(k sortKey) int64 {
	switch k {
	case sortSeverity:
		return int64(r.sevRank)
	case sortStatus:
		return int64(statusRank[r.inc.Status])
	default:
		return r.created
	}
}

func compareKey(aKey int64, aID string, bKey int64, bID string) int {
	switch {
	case aKey < bKey:
		return -1
	case aKey > bKey:
		return 1
	}
	return strings.Compare(aID, bID)
}

// buildOrder sorts once per key so a list is a single linear walk; the status
// order is rebuilt lazily after a PATCH changes a status.
func (s *Server) buildOrder(k sortKey) []int32 {
	keys := make([]int64, len(s.recs))
	ord := make([]int32, len(s.recs))
	for i, r := range s.recs {
		keys[i], ord[i] = r.key(k), int32(i)
	}
	slices.SortFunc(ord, func(a, b int32) int {
		return compareKey(keys[a], s.recs[a].inc.ID, keys[b], s.recs[b].inc.ID)
	})
	return ord
}

// listRequest mirrors the request body of seed 003.
type listRequest struct {
	Filters        *listFilters `json:"filters"`
	PageSize       *int         `json:"page_size"`
	PageID         string       `json:"page_id"`
	SortBy         string       `json:"sort_by"`
	SortOrder      string       `json:"sort_order"`
	IncludeDetails bool         `json:"include_details"`
}

// listFilters is the filter object of seed 003 plus incident_ids, which the
// vendor's other list form has and which the driver uses to get one incident.
type listFilters struct {
	Severity      []string `json:"severity"`
	Status        []string `json:"status"`
	PolicyIDs     []string `json:"policy_ids"`
	EndpointIDs   []string `json:"endpoint_ids"`
	UserIDs       []string `json:"user_ids"`
	Tags          []string `json:"tags"`
	IncidentIDs   []string `json:"incident_ids"`
	CreatedAfter  string   `json:"created_after"`
	CreatedBefore string   `json:"created_before"`
}

var (
	listFields   = []string{"filters", "page_size", "page_id", "sort_by", "sort_order", "include_details"}
	filterFields = []string{"severity", "status", "policy_ids", "endpoint_ids", "user_ids", "tags", "incident_ids", "created_after", "created_before"}
)

// filter is a compiled filter object. A nil set means "no filter on that field":
// the vendor treats an empty array exactly like an absent one.
type filter struct {
	sev, status, policy, endpoint, user, tags, ids map[string]bool
	after, before                                  int64
	hasAfter, hasBefore                            bool
	hash                                           string // binds page ids to this filter
}

func (f *filter) match(r *record) bool {
	in := func(set map[string]bool, v string) bool { return set == nil || set[v] }
	if !in(f.sev, r.inc.Severity) || !in(f.status, r.inc.Status) || !in(f.policy, r.inc.PolicyID) ||
		!in(f.endpoint, r.inc.EndpointID) || !in(f.user, r.inc.UserID) || !in(f.ids, r.inc.ID) {
		return false
	}
	if f.tags != nil && !slices.ContainsFunc(r.inc.Tags, func(t string) bool { return f.tags[t] }) {
		return false
	}
	if f.hasAfter && (r.created < f.after || CreatedAfterExclusive && r.created == f.after) {
		return false
	}
	if f.hasBefore && (r.created > f.before || CreatedBeforeExclusive && r.created == f.before) {
		return false
	}
	return true
}

// parsedList is a validated list request.
type parsedList struct {
	f       filter
	size    int
	sortBy  sortKey
	desc    bool
	cursor  *pageCursor
	details bool
}

// parseList validates everything a list request can get wrong and reports every
// problem at once, the way the vendor's errors array allows.
func (s *Server) parseList(body []byte) (*parsedList, []string) {
	var errs []string
	var raw map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
			return nil, []string{errNotObject.Error()}
		}
	}
	errs = append(errs, unknownKeys(raw, listFields, "unknown field %q")...)
	if f, ok := raw["filters"]; ok && !isNull(f) {
		var fm map[string]json.RawMessage
		if err := json.Unmarshal(f, &fm); err != nil {
			errs = append(errs, "filters must be an object")
		} else {
			errs = append(errs, unknownKeys(fm, filterFields, "unknown filter %q")...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var req listRequest
	if len(raw) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, []string{decodeMessage(err)}
		}
	}
	p := &parsedList{size: DefaultPageSize, details: req.IncludeDetails}
	if req.PageSize != nil {
		switch n := *req.PageSize; {
		case n < 0 || n > MaxPageSize:
			errs = append(errs, fmt.Sprintf("page_size must be between 1 and %d, got %d", MaxPageSize, n))
		case n > 0:
			p.size = n
		}
	}
	switch req.SortBy {
	case "":
		p.sortBy = sortCreated
	default:
		k, ok := sortNames[req.SortBy]
		if !ok {
			errs = append(errs, fmt.Sprintf("sort_by must be one of created_at, severity, status, got %q", req.SortBy))
		}
		p.sortBy = k
	}
	switch req.SortOrder {
	case "", "desc":
		p.desc = true
	case "asc":
	default:
		errs = append(errs, fmt.Sprintf("sort_order must be asc or desc, got %q", req.SortOrder))
	}
	f, ferrs := compileFilter(req.Filters)
	errs = append(errs, ferrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	p.f = f
	if req.PageID != "" {
		c, err := s.decodeCursor(req.PageID)
		switch {
		case err != nil:
			return nil, []string{errBadPageID.Error()}
		case c.Filter != f.hash || c.Sort != p.sortBy.String() || c.Desc != p.desc:
			return nil, []string{"page_id does not belong to this filter and sort; start again without page_id"}
		}
		p.cursor = c
	}
	return p, nil
}

func compileFilter(in *listFilters) (filter, []string) {
	var f filter
	if in == nil {
		in = &listFilters{}
	}
	var errs []string
	set := func(name string, vals []string, valid map[string]int) map[string]bool {
		if len(vals) == 0 {
			return nil
		}
		m := make(map[string]bool, len(vals))
		for _, v := range vals {
			if valid != nil {
				if _, ok := valid[v]; !ok {
					errs = append(errs, fmt.Sprintf("invalid %s value %q", name, v))
				}
			}
			m[v] = true
		}
		return m
	}
	f.sev = set("severity", in.Severity, severityRank)
	f.status = set("status", in.Status, statusRank)
	f.policy = set("policy_ids", in.PolicyIDs, nil)
	f.endpoint = set("endpoint_ids", in.EndpointIDs, nil)
	f.user = set("user_ids", in.UserIDs, nil)
	f.tags = set("tags", in.Tags, nil)
	f.ids = set("incident_ids", in.IncidentIDs, nil)
	parseTime := func(name, v string) (int64, bool) {
		if v == "" {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s must be an ISO 8601 / RFC 3339 timestamp such as 2024-01-01T00:00:00Z, got %q", name, v))
			return 0, false
		}
		return t.UnixNano(), true
	}
	f.after, f.hasAfter = parseTime("created_after", in.CreatedAfter)
	f.before, f.hasBefore = parseTime("created_before", in.CreatedBefore)

	// The hash is over a canonical form (sorted, de-duplicated values, parsed
	// instants), so re-sending the same filter with arrays in another order or a
	// time in another offset keeps its page ids valid.
	h := sha256.New()
	for _, m := range []map[string]bool{f.sev, f.status, f.policy, f.endpoint, f.user, f.tags, f.ids} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(h, "%d:", len(keys))
		for _, k := range keys {
			fmt.Fprintf(h, "%d:%s", len(k), k)
		}
	}
	fmt.Fprintf(h, "a%t%d b%t%d", f.hasAfter, f.after, f.hasBefore, f.before)
	f.hash = hex.EncodeToString(h.Sum(nil)[:12])
	return f, errs
}

func unknownKeys(m map[string]json.RawMessage, known []string, format string) []string {
	var out []string
	for k := range m {
		if !slices.Contains(known, k) {
			out = append(out, fmt.Sprintf(format, k))
		}
	}
	slices.Sort(out)
	return out
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// decodeMessage turns a decoding error into a message that names the JSON field,
// not the simulator's Go types.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("invalid value for %s: JSON %s not allowed here", te.Field, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// pageCursor is the content of a page id: the position after the last incident
// returned (keyset paging), bound to the filter and sort that produced it. Keyset
// paging keeps every incident exactly once across pages even when other incidents
// are updated between calls (unless the sort key itself changes).
type pageCursor struct {
	Filter string `json:"f"`
	Sort   string `json:"s"`
	Desc   bool   `json:"d"`
	Key    int64  `json:"k"`
	ID     string `json:"i"`
}

func (s *Server) encodeCursor(c pageCursor) string {
	payload, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, s.secret)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12])
}

func (s *Server) decodeCursor(id string) (*pageCursor, error) {
	p, m, ok := strings.Cut(id, ".")
	if !ok {
		return nil, errBadPageID
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sig, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil {
		return nil, errBadPageID
	}
	mac := hmac.New(sha256.New, s.secret)
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)[:12]) {
		return nil, errBadPageID
	}
	var c pageCursor
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errBadPageID
	}
	return &c, nil
}

type listResponse struct {
	Resources  []Incident `json:"resources"`
	Size       int        `json:"size"`
	NextPageID string     `json:"next_page_id"`
	TotalCount int        `json:"total_count"`
	Errors     []apiError `json:"errors"`
}

// list answers POST {prefix}/incidents/list.
func (s *Server) list(body []byte) (int, []byte) {
	p, errs := s.parseList(body)
	if len(errs) > 0 {
		return errorJSON(http.StatusBadRequest, errs...)
	}
	s.mu.Lock()
	if s.denyReads {
		s.mu.Unlock()
		return errorJSON(http.StatusForbidden, "missing permission incident__read")
	}
	ord := s.order(p.sortBy)
	page := make([]Incident, 0, min(p.size, len(ord)))
	var last *record
	total, more := 0, false
	for n := range ord {
		i := n
		if p.desc {
			i = len(ord) - 1 - n
		}
		r := s.recs[ord[i]]
		if !p.f.match(r) {
			continue
		}
		total++
		if c := p.cursor; c != nil {
			cmp := compareKey(r.key(p.sortBy), r.inc.ID, c.Key, c.ID)
			if (p.desc && cmp >= 0) || (!p.desc && cmp <= 0) {
				continue
			}
		}
		if len(page) == p.size {
			more = true
			continue
		}
		inc := r.inc // Tags and Details are never mutated, so sharing them for encoding is safe
		if !p.details {
			inc.Details = nil
		}
		page = append(page, inc)
		last = r
	}
	partial := s.partial
	s.partial = ""
	s.mu.Unlock()

	resp := listResponse{Resources: page, Size: len(page), TotalCount: total, Errors: []apiError{}}
	if more {
		resp.NextPageID = s.encodeCursor(pageCursor{
			Filter: p.f.hash, Sort: p.sortBy.String(), Desc: p.desc, Key: last.key(p.sortBy), ID: last.inc.ID,
		})
	}
	if partial != "" {
		resp.Errors = []apiError{{Code: PartialErrorCode, Message: partial}}
	}
	out, _ := json.Marshal(resp)
	return http.StatusOK, out
}

// order returns the ascending order for k; the caller holds s.mu.
func (s *Server) order(k sortKey) []int32 {
	if k == sortStatus && s.statusDirty {
		s.orders[sortStatus] = s.buildOrder(sortStatus)
		s.statusDirty = false
	}
	return s.orders[k]
}
