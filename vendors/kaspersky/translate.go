package kaspersky

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// PageSize is Kaspersky's fixed page size; the list has no parameter for it.
const PageSize = 100

// assumeNewestFirst: Kaspersky documents no order for the list and has no
// sort parameter. Unverified assumption (the simulator follows it): records
// come newest first by the request's timestampField, CreatedAt when there is
// none. Plans claim an order only under this assumption; set it false if a
// console shows otherwise, and every plan says "unsorted" instead.
const assumeNewestFirst = true

// pcreUnicodeCaseless: the docs say `name` is a PCRE and nothing about its
// mode. Unverified assumption: it matches in UTF mode, so `(?i)` folds case
// beyond ASCII (Cyrillic, Greek, accented Latin). Without it a pushed title
// with such letters could miss records whose case differs; set it false and
// such titles stay with the local check.
const pcreUnicodeCaseless = true

// flagValue is sent for withAffected/withHistory. The docs show both a bare
// "?withAffected" and "?withAffected=123": presence is what counts there,
// and "true" also satisfies a server that parses the value as a boolean.
const flagValue = "true"

// Timestamp fields the list can filter on.
const (
	fieldCreatedAt = "createdAt"
	fieldUpdatedAt = "updatedAt"
)

// NativeRequest is the list request as Kaspersky receives it (less `page`);
// it is echoed to the model as the plan's native request.
type NativeRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// TenantID is empty only while the readable tenants are still to be
	// discovered; Tenants then says so.
	TenantID       []string `json:"tenantID,omitempty"`
	Tenants        string   `json:"tenants,omitempty"`
	ID             []string `json:"id,omitempty"`
	Status         []string `json:"status,omitempty"`
	Name           string   `json:"name,omitempty"`
	TimestampField string   `json:"timestampField,omitempty"`
	From           string   `json:"from,omitempty"`
	To             string   `json:"to,omitempty"`
	WithAffected   bool     `json:"withAffected,omitempty"`
}

// query renders the request for one page; tenants replace an empty TenantID.
func (r *NativeRequest) query(tenants []string, page int) url.Values {
	q := url.Values{"tenantID": tenants, "page": {strconv.Itoa(page)}}
	if len(r.ID) > 0 {
		q["id"] = r.ID
	}
	if len(r.Status) > 0 {
		q["status"] = r.Status
	}
	if r.Name != "" {
		q.Set("name", r.Name)
	}
	if r.TimestampField != "" {
		q.Set("timestampField", r.TimestampField)
		if r.From != "" {
			q.Set("from", r.From)
		}
		if r.To != "" {
			q.Set("to", r.To)
		}
	}
	if r.WithAffected {
		q.Set("withAffected", flagValue)
	}
	return q
}

// translation is what criteria turn into, before tenants are known.
type translation struct {
	req    NativeRequest
	pushed []string
	exact  bool
	skip   bool
}

// translate builds the list parameters for c. The request selects a superset
// of the matches; exact says whether it selects exactly them. fields are the
// incident fields the filter reads: assets are large, so they are asked for
// only when a filter or the caller reads devices or users.
func translate(c schema.Criteria, fields []string, now time.Time) translation {
	t := translation{exact: true, req: NativeRequest{Method: "GET", Path: pathIncidents}}
	skip := func() translation { return translation{skip: true, exact: true, req: t.req} }
	push := func(arg string) {
		if !slices.Contains(t.pushed, arg) {
			t.pushed = append(t.pushed, arg)
		}
	}
	// Kaspersky incidents carry no tags and no policy: such filters match
	// nothing.
	if c.Impossible || len(c.Tags) > 0 || len(c.PolicyIDs) > 0 {
		return skip()
	}

	if len(c.Statuses) > 0 {
		var vals []string
		for _, s := range c.Statuses {
			if v, ok := statusToFilter[s]; ok && !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
		switch {
		case len(vals) == 0: // only "resolved", which Kaspersky does not have
			return skip()
		case len(vals) < len(statusToFilter):
			t.req.Status = vals
			push("status")
		}
	}

	if len(c.Severities) > 0 {
		n := 0
		for _, s := range c.Severities {
			if slices.Contains(kasperskySeverities, s) {
				n++
			}
		}
		switch {
		case n == 0: // only "informational"
			return skip()
		case n < len(kasperskySeverities):
			t.exact = false // no list parameter: the local check decides
		}
	}

	if len(c.IDs) > 0 {
		// The list answers 400 to an id that is not a UUID; such an id names
		// no incident, so it is dropped rather than failing the query.
		for _, id := range c.IDs {
			if wire.IsUUID(id) {
				t.req.ID = append(t.req.ID, id)
			}
		}
		if len(t.req.ID) == 0 {
			return skip()
		}
		push("ids")
	}

	if c.TitleContains != "" && (pcreUnicodeCaseless || !hasNonASCIICased(c.TitleContains)) {
		t.req.Name = titlePattern(c.TitleContains)
		push("title_contains")
		// PCRE's case folding and the local check's lower-casing agree only
		// where nothing has case.
		if !caseless(c.TitleContains) {
			t.exact = false
		}
	} else if c.TitleContains != "" {
		t.exact = false
	}

	if w, ok := chooseWindow(c, now); ok {
		t.req.TimestampField, t.req.From, t.req.To = w.field, w.from, w.to
		for _, a := range w.args {
			push(a)
		}
	}
	if !c.CreatedAfter.IsZero() || !c.CreatedBefore.IsZero() || !c.UpdatedAfter.IsZero() || !c.UpdatedBefore.IsZero() {
		// The pushed window is widened and any other is left out.
		t.exact = false
	}

	if c.Assignee != "" || c.Unassigned {
		t.exact = false
	}
	if len(c.DeviceIDs) > 0 || len(c.UserIDs) > 0 {
		t.exact = false
		t.req.WithAffected = true
	}
	for _, f := range fields {
		if f == "devices" || f == "users" || f == "*" {
			t.req.WithAffected = true
		}
	}
	return t
}

// kasperskySeverities are the normalized severities Kaspersky records have.
var kasperskySeverities = []schema.Severity{schema.SeverityLow, schema.SeverityMedium, schema.SeverityHigh, schema.SeverityCritical}

// window is the one time window a request can carry.
type window struct {
	field    string
	from, to string
	args     []string
	sel      float64
}

// chooseWindow picks, of the created and updated windows, the one that
// keeps the smallest share of a 90-day history (CreatedAt on a tie: its order
// is the one plans can claim). Bounds are widened to whole seconds, one
// second beyond each end: the vendor does not say whether from/to include
// their instant, nor at what precision it compares, and a wider window only
// costs a few records the local check drops.
func chooseWindow(c schema.Criteria, now time.Time) (window, bool) {
	var best window
	found := false
	for _, cand := range []struct {
		field         string
		after, before time.Time
		argA, argB    string
	}{
		{fieldCreatedAt, c.CreatedAfter, c.CreatedBefore, "created_after", "created_before"},
		{fieldUpdatedAt, c.UpdatedAfter, c.UpdatedBefore, "updated_after", "updated_before"},
	} {
		if cand.after.IsZero() && cand.before.IsZero() {
			continue
		}
		w := window{field: cand.field, sel: windowShare(cand.after, cand.before, now)}
		if !cand.after.IsZero() {
			w.from = cand.after.UTC().Add(-time.Second).Truncate(time.Second).Format(time.RFC3339)
			w.args = append(w.args, cand.argA)
		}
		if !cand.before.IsZero() {
			w.to = cand.before.UTC().Add(time.Second).Truncate(time.Second).Format(time.RFC3339)
			w.args = append(w.args, cand.argB)
		}
		if !found || w.sel < best.sel {
			best, found = w, true
		}
	}
	return best, found
}

// windowShare estimates the fraction of a 90-day history a window keeps.
func windowShare(after, before, now time.Time) float64 {
	const span = 90 * 24 * time.Hour
	from, to := after, before
	if from.IsZero() || from.Before(now.Add(-span)) {
		from = now.Add(-span)
	}
	if to.IsZero() || to.After(now) {
		to = now
	}
	return min(1, max(0.001, float64(to.Sub(from))/float64(span)))
}

// titlePattern is the `name` PCRE that finds s anywhere in a title, in any
// case. It never forwards s as a pattern: every ASCII character that is not
// a letter, digit or underscore is escaped with a backslash (PCRE and RE2
// both read `\` before such a character as the character itself), control
// characters become \x{hh}, and other characters are written verbatim.
//
// One exception keeps the pattern a superset of the local check: Go's
// strings.ToLower, which title_contains uses, maps "İ" (U+0130) to "i", but
// case folding (PCRE's and RE2's) does not relate them. So i, I and İ are
// written as (?:i|İ), which under (?i) matches all three. No other character
// differs this way (TestFoldExtrasComplete scans every code point).
func titlePattern(s string) string {
	var b strings.Builder
	b.Grow(len(s)*2 + 4)
	b.WriteString("(?i)")
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x{%02x}`, r)
		case r == 'i' || r == 'I' || r == 'İ':
			b.WriteString("(?:i|İ)")
		case r < 0x80 && !isWordASCII(r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isWordASCII(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
}

// caseless reports whether no character of s has a case variant, so that a
// case-insensitive match and a literal one agree.
func caseless(s string) bool {
	for _, r := range s {
		if unicode.SimpleFold(r) != r || unicode.ToLower(r) != r || unicode.ToUpper(r) != r {
			return false
		}
	}
	return true
}

func hasNonASCIICased(s string) bool {
	for _, r := range s {
		if r >= 0x80 && !caseless(string(r)) {
			return true
		}
	}
	return false
}

// orderOf says in what order a request's records come, and whether that is o.
func orderOf(field string, o schema.Order) (sorted bool, desc string) {
	if field == "" {
		field = fieldCreatedAt
	}
	key := map[string]schema.OrderKey{fieldCreatedAt: schema.OrderCreatedAt, fieldUpdatedAt: schema.OrderUpdatedAt}[field]
	if !assumeNewestFirst {
		return false, "Kaspersky's own order, which it does not document"
	}
	return o.Key == key && o.Desc, fmt.Sprintf("newest %s first (Kaspersky documents no order; assumed)", key)
}
