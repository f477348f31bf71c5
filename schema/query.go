package schema

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Unassigned is the assignee value that selects incidents nobody owns.
const Unassigned = "unassigned"

// Filter is the structured part of a query as the assistant sent it. Times
// are kept as given (RFC 3339, a date, or relative like "24h") so that a
// cursor can re-resolve them against the same "now".
type Filter struct {
	Severity      []string `json:"severity,omitempty"`
	MinSeverity   string   `json:"min_severity,omitempty"`
	Status        []string `json:"status,omitempty"`
	CreatedAfter  string   `json:"created_after,omitempty"`
	CreatedBefore string   `json:"created_before,omitempty"`
	UpdatedAfter  string   `json:"updated_after,omitempty"`
	UpdatedBefore string   `json:"updated_before,omitempty"`
	TitleContains string   `json:"title_contains,omitempty"`
	Assignee      string   `json:"assignee,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	DeviceIDs     []string `json:"device_ids,omitempty"`
	UserIDs       []string `json:"user_ids,omitempty"`
	PolicyIDs     []string `json:"policy_ids,omitempty"`
	IDs           []string `json:"ids,omitempty"`
	Tenant        string   `json:"tenant,omitempty"`
}

// Criteria is a validated Filter with every time resolved to absolute UTC:
// what drivers translate into native requests. Empty slices and zero times
// mean "no constraint": a bound that is set always lies within
// [MinTime, MaxTime], so the zero time can only mean "unset".
type Criteria struct {
	// Severities is the set allowed by both `severity` and `min_severity`.
	Severities []Severity `json:"severities,omitempty"`
	Statuses   []Status   `json:"statuses,omitempty"`
	// CreatedAfter and UpdatedAfter are inclusive; the Before bounds exclusive.
	CreatedAfter  time.Time `json:"created_after,omitzero"`
	CreatedBefore time.Time `json:"created_before,omitzero"`
	UpdatedAfter  time.Time `json:"updated_after,omitzero"`
	UpdatedBefore time.Time `json:"updated_before,omitzero"`
	// TitleContains matches case-insensitively.
	TitleContains string   `json:"title_contains,omitempty"`
	Assignee      string   `json:"assignee,omitempty"`
	Unassigned    bool     `json:"unassigned,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	DeviceIDs     []string `json:"device_ids,omitempty"`
	UserIDs       []string `json:"user_ids,omitempty"`
	PolicyIDs     []string `json:"policy_ids,omitempty"`
	// IDs are full "<instance>:<native>" ids.
	IDs    []string `json:"ids,omitempty"`
	Tenant string   `json:"tenant,omitempty"`
	// Impossible is set when the arguments contradict each other (say
	// severity [low] with min_severity high): nothing can match.
	Impossible bool `json:"impossible,omitempty"`
}

// Empty reports whether the criteria constrain nothing.
func (c *Criteria) Empty() bool {
	return len(c.Severities) == 0 && len(c.Statuses) == 0 && c.CreatedAfter.IsZero() &&
		c.CreatedBefore.IsZero() && c.UpdatedAfter.IsZero() && c.UpdatedBefore.IsZero() &&
		c.TitleContains == "" && c.Assignee == "" && !c.Unassigned && len(c.Tags) == 0 &&
		len(c.DeviceIDs) == 0 && len(c.UserIDs) == 0 && len(c.PolicyIDs) == 0 &&
		len(c.IDs) == 0 && c.Tenant == "" && !c.Impossible
}

// Limits on argument sizes keep a filter cheap to evaluate and to push down.
const (
	MaxListValues = 100
	MaxValueLen   = 256
)

// Resolve validates f and resolves its times against now.
func (f *Filter) Resolve(now time.Time) (Criteria, error) {
	var c Criteria
	allowed := map[Severity]bool{}
	for _, s := range f.Severity {
		v, ok := ParseSeverity(s)
		if !ok {
			return c, ArgError("severity", "unknown severity %q; use any of %s", s, QuoteList(Severities))
		}
		allowed[v] = true
	}
	if f.MinSeverity != "" {
		minSev, ok := ParseSeverity(f.MinSeverity)
		if !ok {
			return c, ArgError("min_severity", "unknown severity %q; use one of %s", f.MinSeverity, QuoteList(Severities))
		}
		for _, s := range Severities {
			if s.Rank() >= minSev.Rank() && (len(f.Severity) == 0 || allowed[s]) {
				c.Severities = append(c.Severities, s)
			}
		}
		c.Impossible = len(c.Severities) == 0
	} else {
		for _, s := range Severities {
			if allowed[s] {
				c.Severities = append(c.Severities, s)
			}
		}
	}
	for _, s := range f.Status {
		v, ok := ParseStatus(s)
		if !ok {
			return c, ArgError("status", "unknown status %q; use any of %s", s, QuoteList(Statuses))
		}
		if !slices.Contains(c.Statuses, v) {
			c.Statuses = append(c.Statuses, v)
		}
	}
	times := []struct {
		arg, val string
		dst      *time.Time
	}{
		{"created_after", f.CreatedAfter, &c.CreatedAfter},
		{"created_before", f.CreatedBefore, &c.CreatedBefore},
		{"updated_after", f.UpdatedAfter, &c.UpdatedAfter},
		{"updated_before", f.UpdatedBefore, &c.UpdatedBefore},
	}
	for _, t := range times {
		if t.val == "" {
			continue
		}
		v, err := ParseTime(t.val, now)
		if err != nil {
			return c, ArgError(t.arg, "%v", err)
		}
		*t.dst = v
	}
	if !c.CreatedAfter.IsZero() && !c.CreatedBefore.IsZero() && !c.CreatedBefore.After(c.CreatedAfter) ||
		!c.UpdatedAfter.IsZero() && !c.UpdatedBefore.IsZero() && !c.UpdatedBefore.After(c.UpdatedAfter) {
		c.Impossible = true
	}
	if err := checkValue("title_contains", f.TitleContains); err != nil {
		return c, err
	}
	c.TitleContains = f.TitleContains
	switch a := strings.TrimSpace(f.Assignee); {
	case strings.EqualFold(a, Unassigned):
		c.Unassigned = true
	default:
		if err := checkValue("assignee", a); err != nil {
			return c, err
		}
		c.Assignee = a
	}
	lists := []struct {
		arg string
		in  []string
		dst *[]string
	}{
		{"tags", f.Tags, &c.Tags},
		{"device_ids", f.DeviceIDs, &c.DeviceIDs},
		{"user_ids", f.UserIDs, &c.UserIDs},
		{"policy_ids", f.PolicyIDs, &c.PolicyIDs},
		{"ids", f.IDs, &c.IDs},
	}
	for _, l := range lists {
		if len(l.in) > MaxListValues {
			return c, ArgError(l.arg, "at most %d values, got %d; narrow the list or use several calls", MaxListValues, len(l.in))
		}
		for _, v := range l.in {
			if err := checkValue(l.arg, v); err != nil {
				return c, err
			}
			if v == "" {
				return c, ArgError(l.arg, "empty value; leave the argument out to match everything")
			}
			if !slices.Contains(*l.dst, v) {
				*l.dst = append(*l.dst, v)
			}
		}
	}
	for _, id := range c.IDs {
		if _, _, ok := SplitID(id); !ok {
			return c, ArgError("ids", "%q is not an incident id; ids look like \"<instance>:<native id>\", as list_incidents returns them", id)
		}
	}
	if err := checkValue("tenant", f.Tenant); err != nil {
		return c, err
	}
	c.Tenant = f.Tenant
	return c, nil
}

func checkValue(arg, v string) error {
	if len(v) > MaxValueLen {
		return ArgError(arg, "value is %d bytes long, the limit is %d", len(v), MaxValueLen)
	}
	if !utf8.ValidString(v) {
		return ArgError(arg, "value is not valid UTF-8")
	}
	return nil
}

var relativeTime = regexp.MustCompile(`^(\d{1,6})\s*(m|min|h|d|w)$`)

// The range of times a filter accepts. Every vendor parses them, a driver
// that widens a bound by a second (where the vendor's inclusivity is
// unknown) stays inside the years 1969–9999, and no set bound is ever the
// zero time, which Criteria reserves for "unset".
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

var ageUnits = map[string]time.Duration{"m": time.Minute, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}

// ParseTime reads an absolute or relative time: RFC 3339
// ("2026-11-01T08:00:00Z", 't' and 'z' in either case as RFC 3339 §5.6
// allows), a date ("2026-11-01", midnight UTC), or an age before now
// ("90m", "24h", "7d", "2w"). The result is in UTC, within [MinTime,
// MaxTime]; a time outside is refused, never clamped into another meaning.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if m := relativeTime.FindStringSubmatch(strings.ToLower(s)); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		unit := ageUnits[m[2]]
		if n > int64(now.Sub(MinTime)/unit) {
			return time.Time{}, fmt.Errorf("an age of %s reaches back before %s, the earliest time a filter accepts; leave the argument out for no bound", s, MinTime.Format(time.DateOnly))
		}
		return now.Add(-time.Duration(n) * unit).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, fmt.Errorf("cannot read %q as a time; use RFC 3339 (2026-11-01T08:00:00Z), a date (2026-11-01) or an age like 90m, 24h, 7d, 2w", s)
		}
	}
	t = t.UTC()
	if t.Before(MinTime) || t.After(MaxTime) {
		return time.Time{}, fmt.Errorf("%s is outside the times a filter accepts (%s to %s); leave the argument out for no bound", s,
			MinTime.Format(time.RFC3339), MaxTime.Format(time.RFC3339))
	}
	return t, nil
}

// OrderKey is a field list results can be sorted by.
type OrderKey string

// Sort keys.
const (
	OrderCreatedAt OrderKey = "created_at"
	OrderUpdatedAt OrderKey = "updated_at"
	OrderSeverity  OrderKey = "severity"
)

// Order is a sort key and direction.
type Order struct {
	Key  OrderKey `json:"key"`
	Desc bool     `json:"desc"`
}

// DefaultOrder is newest first.
var DefaultOrder = Order{Key: OrderCreatedAt, Desc: true}

// OrderValues lists the order_by strings the tools accept.
var OrderValues = []string{"created_at desc", "created_at asc", "updated_at desc", "updated_at asc", "severity desc", "severity asc"}

// ParseOrder reads "created_at desc" style strings; empty means DefaultOrder.
func ParseOrder(s string) (Order, error) {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if s == "" {
		return DefaultOrder, nil
	}
	key, dir, _ := strings.Cut(s, " ")
	if dir == "" {
		dir = "asc"
	}
	if !slices.Contains(OrderValues, key+" "+dir) {
		return Order{}, ArgError("order_by", "unknown order %q; use one of %s", s, QuoteList(OrderValues))
	}
	return Order{Key: OrderKey(key), Desc: dir == "desc"}, nil
}

func (o Order) String() string {
	if o.Desc {
		return string(o.Key) + " desc"
	}
	return string(o.Key) + " asc"
}

// Compare orders two incidents by o, breaking ties by id so every order is total.
func (o Order) Compare(a, b *Incident) int {
	var c int
	switch o.Key {
	case OrderUpdatedAt:
		c = a.UpdatedAt.Compare(b.UpdatedAt)
	case OrderSeverity:
		c = int(a.Severity.Rank() - b.Severity.Rank())
	default:
		c = a.CreatedAt.Compare(b.CreatedAt)
	}
	if c == 0 {
		c = strings.Compare(a.ID, b.ID)
	}
	if o.Desc {
		return -c
	}
	return c
}

// QuoteList quotes each value and joins them with commas, as error messages list
// the values an argument accepts.
func QuoteList[T ~string](vals []T) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}
