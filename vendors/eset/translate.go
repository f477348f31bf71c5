package eset

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/incident-mcp/incident-mcp/schema"
)

// MaxFilterLen is ESET's limit on the whole filter string.
const MaxFilterLen = 200

// pushListMembership allows `"v" in tags` / `"v" in device_uuids`. The
// documentation shows `in` only with a literal list on the right; CEL gives
// the reversed form the same meaning and the simulator accepts it.
// Unverified against the live API: turn off if it is refused.
const pushListMembership = true

// term is one candidate conjunct of the native filter.
type term struct {
	arg  string  // the filter argument it expresses
	expr string  // CEL text with ESET field names
	sel  float64 // estimated fraction of incidents it keeps (0..1]
	// exact is true when the term selects exactly what the argument means.
	exact bool
}

// translation is what a query turns into.
type translation struct {
	filter  string
	pushed  []string
	exact   bool
	skip    bool
	orderBy string
	sorted  bool
}

// translate builds the native filter from criteria: every candidate term,
// then the most selective per character that fit in MaxFilterLen. Terms
// left out are still checked locally by the service.
func translate(c schema.Criteria, o schema.Order, now time.Time) translation {
	var t translation
	// A plan has a handful of terms: their room is on the stack.
	var room [8]term
	terms, exact, skip := candidateTerms(room[:0], c, now)
	if skip {
		return translation{skip: true, exact: true}
	}
	t.exact = exact
	// Best gain per character first: -ln(sel) is how much a term narrows.
	slices.SortStableFunc(terms, func(a, b term) int {
		ga, gb := -math.Log(a.sel)/float64(len(a.expr)), -math.Log(b.sel)/float64(len(b.expr))
		switch {
		case ga > gb:
			return -1
		case ga < gb:
			return 1
		}
		return 0
	})
	// The chosen terms are written straight into the filter, at most
	// MaxFilterLen long; pushed names each argument once.
	var filter strings.Builder
	for _, tm := range terms {
		add := len(tm.expr)
		if filter.Len() > 0 {
			add += len(" && ")
		}
		if filter.Len()+add > MaxFilterLen {
			t.exact = false
			continue
		}
		if filter.Len() > 0 {
			filter.WriteString(" && ")
		} else {
			filter.Grow(MaxFilterLen)
		}
		filter.WriteString(tm.expr)
		if !slices.Contains(t.pushed, tm.arg) {
			if t.pushed == nil {
				t.pushed = make([]string, 0, len(terms))
			}
			t.pushed = append(t.pushed, tm.arg)
		}
		if !tm.exact {
			t.exact = false
		}
	}
	t.filter = filter.String()
	t.orderBy, t.sorted = orderBy(o)
	return t
}

// candidateTerms appends to terms those ESET can express for c. exact is
// false when some criterion has no term at all; skip is true when nothing
// ESET holds can match.
func candidateTerms(terms []term, c schema.Criteria, now time.Time) (_ []term, exact, skip bool) {
	exact = true
	// ESET incidents have no tenant, users or policy: such criteria exclude
	// every record.
	if c.Impossible || c.Tenant != "" || len(c.UserIDs) > 0 || len(c.PolicyIDs) > 0 {
		return nil, true, true
	}
	var room [8]string // enum values: a term's text is built from them, then they go
	if len(c.Severities) > 0 {
		vals := room[:0]
		for _, s := range c.Severities {
			if v, ok := severityToESET[s]; ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return nil, true, true
		}
		if len(vals) < len(severityToESET) {
			terms = append(terms, enumTerm("severity", "severity", vals, float64(len(vals))/3))
		}
	}
	if len(c.Statuses) > 0 {
		vals := room[:0]
		for _, s := range c.Statuses {
			if v, ok := statusToESET[s]; ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return nil, true, true
		}
		if len(vals) < len(statusToESET) {
			terms = append(terms, enumTerm("status", "status", vals, float64(len(vals))/4))
		}
	}
	window := func(after, before time.Time) float64 {
		const span = 90 * 24 * time.Hour
		from, to := after, before
		if from.IsZero() {
			from = now.Add(-span)
		}
		if to.IsZero() || to.After(now) {
			to = now
		}
		return min(1, max(0.005, float64(to.Sub(from))/float64(span)))
	}
	for _, tb := range []struct {
		arg, field    string
		after, before time.Time
	}{
		{"created_after", "create_time", c.CreatedAfter, c.CreatedBefore},
		{"updated_after", "update_time", c.UpdatedAfter, c.UpdatedBefore},
	} {
		sel := window(tb.after, tb.before)
		if !tb.after.IsZero() {
			terms = append(terms, term{arg: tb.arg, expr: tb.field + " >= " + timestampLit(tb.after), sel: sel, exact: true})
		}
		if !tb.before.IsZero() {
			// `<` is not among ESET's documented operators; `<=` widens the
			// exclusive bound by one instant and the local check drops it.
			arg := strings.Replace(tb.arg, "after", "before", 1)
			terms = append(terms, term{arg: arg, expr: tb.field + " <= " + timestampLit(tb.before), sel: sel})
		}
	}
	if c.TitleContains != "" {
		// ESET's contains() is case-sensitive, titles match case-insensitively:
		// push the longest run of characters that have no case, which every
		// matching title contains verbatim.
		if run := longestCaselessRun(c.TitleContains); utf8.RuneCountInString(run) >= 2 {
			terms = append(terms, term{arg: "title_contains", expr: "display_name.contains(" + stringLit(run) + ")", sel: 0.05, exact: run == c.TitleContains})
		} else {
			exact = false
		}
	}
	switch {
	case c.Assignee != "":
		terms = append(terms, term{arg: "assignee", expr: "assignee_uuid == " + stringLit(c.Assignee), sel: 0.05, exact: true})
	case c.Unassigned:
		// `!has(…)` would need `!`, which ESET does not document.
		exact = false
	}
	if len(c.IDs) > 0 {
		terms = append(terms, stringsTerm("ids", "uuid", c.IDs, 0.0001*float64(len(c.IDs))))
	}
	for _, l := range []struct {
		arg, field string
		vals       []string
		sel        float64
	}{
		{"tags", "tags", c.Tags, 0.1},
		{"device_ids", "device_uuids", c.DeviceIDs, 0.01},
	} {
		switch {
		case len(l.vals) == 0:
		case len(l.vals) == 1 && pushListMembership:
			terms = append(terms, term{arg: l.arg, expr: stringLit(l.vals[0]) + " in " + l.field, sel: l.sel, exact: true})
		default:
			// Any-of over a list field needs `||` or exists(), neither
			// documented: leave it to the local check.
			exact = false
		}
	}
	return terms, exact, false
}

func enumTerm(arg, field string, vals []string, sel float64) term {
	if len(vals) == 1 {
		return term{arg: arg, expr: field + " == " + vals[0], sel: sel, exact: true}
	}
	// Enum values are bare identifiers: ESET rejects quoted ones.
	var b strings.Builder
	b.Grow(len(field) + len(" in []") + 2*len(vals) + sumLen(vals))
	b.WriteString(field)
	b.WriteString(" in [")
	for i, v := range vals {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v)
	}
	b.WriteByte(']')
	return term{arg: arg, expr: b.String(), sel: sel, exact: true}
}

func sumLen(vals []string) int {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	return n
}

func stringsTerm(arg, field string, vals []string, sel float64) term {
	if len(vals) == 1 {
		return term{arg: arg, expr: field + " == " + stringLit(vals[0]), sel: sel, exact: true}
	}
	lits := make([]string, len(vals))
	for i, v := range vals {
		lits[i] = stringLit(v)
	}
	return term{arg: arg, expr: field + " in [" + strings.Join(lits, ", ") + "]", sel: sel, exact: true}
}

func timestampLit(t time.Time) string {
	var buf [len(`timestamp("")`) + len(time.RFC3339Nano)]byte
	b := append(buf[:0], `timestamp("`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return string(append(b, `")`...))
}

// stringLit quotes s as a CEL string literal that no value can escape:
// quotes and backslashes are escaped, and everything outside printable ASCII
// becomes a \u or \U escape. Invalid UTF-8 never gets here (schema rejects
// it), but is escaped as U+FFFD rather than passed through.
func stringLit(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// longestCaselessRun returns the longest substring of s whose characters
// have no upper/lower case distinction (digits, punctuation, spaces).
func longestCaselessRun(s string) string {
	best, start := "", -1
	flush := func(end int) {
		if start >= 0 && len(s[start:end]) > len(best) {
			best = s[start:end]
		}
		start = -1
	}
	for i, r := range s {
		if unicode.ToLower(r) == unicode.ToUpper(r) && unicode.SimpleFold(r) == r {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s))
	return best
}

// orderBy maps an order to ESET's orderBy; every normalized key is sortable.
func orderBy(o schema.Order) (string, bool) {
	asc, desc := "", ""
	switch o.Key {
	case schema.OrderCreatedAt:
		asc, desc = "create_time", "create_time desc"
	case schema.OrderUpdatedAt:
		asc, desc = "update_time", "update_time desc"
	case schema.OrderSeverity:
		asc, desc = "severity", "severity desc"
	default:
		return "", false
	}
	if o.Desc {
		return desc, true
	}
	return asc, true
}
