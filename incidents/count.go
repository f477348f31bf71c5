package incidents

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// CountDimensions are the facets Count can group by: fields, and created_at
// in day, ISO week (its Monday) or month buckets.
var CountDimensions = []string{"severity", "status", "instance", "assignee", "tags", "device", "user", "technique", "day", "week", "month"}

// timeDimensions are the bucketed dimensions: listed in date order, with
// the empty buckets between the first and the last.
var timeDimensions = []string{"day", "week", "month"}

// countFields are the incident fields a dimension reads, asked of the
// vendor (some list results leave them out unless asked).
var countFields = map[string]string{"assignee": "assignee", "tags": "tags", "device": "devices", "user": "users", "technique": "mitre"}

// MaxCountValues bounds the values listed for one dimension; the rest are
// summed under OtherValues, so the counts of a many-valued dimension
// (devices, users) stay a short answer.
const MaxCountValues = 15

// OtherValues is the key under which the values beyond MaxCountValues are
// summed.
const OtherValues = "(others)"

// count counts the incidents matching r over the named instances, grouped
// by each of r.CountBy. Instances are scanned concurrently, each within its
// own call budget; an instance's vendor total is used without a scan when
// it is exact and only the instance dimension is asked.
func (s *Service) count(ctx context.Context, r QueryRequest, names []string) (*QueryResult, error) {
	by := r.CountBy
	for _, d := range by {
		if !slices.Contains(CountDimensions, d) {
			return nil, schema.ArgError("count_by", "unknown dimension %q; use any of %s", d, strings.Join(CountDimensions, ", "))
		}
	}
	if r.Cursor != "" {
		return nil, schema.ArgError("cursor", "counts are not paged: leave cursor out with count_by")
	}
	if r.Explain {
		// Counting nothing would claim "exactly 0".
		return nil, schema.ArgError("explain", "a count has no plan of its own: leave explain out with count_by, or leave count_by out to see each instance's plan")
	}
	now := s.now().UTC().Truncate(time.Second)
	prog, err := s.lang.Compile(r.Filter, r.Where, now)
	if err != nil {
		return nil, err
	}
	order, err := schema.ParseOrder(r.OrderBy)
	if err != nil {
		return nil, err
	}
	total := 0
	res := &QueryResult{Total: &total, Tally: &Tally{Exact: true, Counts: map[string]map[string]int{}}, Query: AppliedQuery{
		Instances: names, Filter: prog.Criteria, Where: prog.Where, Now: now, OrderBy: order.String(), Sorted: true,
	}}
	for _, d := range by {
		res.Counts[d] = map[string]int{}
	}
	onlyInstance := !slices.ContainsFunc(by, func(d string) bool { return d != "instance" })
	type tally struct {
		st     InstanceStatus
		counts map[string]map[string]int
		n      int
		exact  bool
	}
	tallies := make([]*tally, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		t := &tally{counts: map[string]map[string]int{}}
		tallies[i] = t
		wg.Go(func() {
			in := s.instances[name]
			t.st = InstanceStatus{Instance: name, Vendor: in.info.Vendor, Status: StatusOK}
			budget := s.budgetFor(in, Budget{})
			start := time.Now()
			req := pageRequest{Instance: name, Filter: r.Filter, Where: r.Where, PageSize: MaxPageSize, now: now}
			for _, d := range by {
				if f, ok := countFields[d]; ok {
					req.fields = append(req.fields, f)
				}
			}
			for {
				left := Budget{Requests: budget.Requests - t.st.Scan.Requests, Time: budget.Time - time.Since(start)}
				if left.Requests <= 0 || left.Time <= 0 {
					t.st.Status, t.st.Scan.BudgetReached = StatusBudgetReached, true
					t.st.Message = fmt.Sprintf("counted %d matches in %d records, then the call budget ran out", t.n, t.st.Scan.Scanned)
					return
				}
				req.budget = left
				page, err := s.page(ctx, req)
				if err != nil {
					t.st.Status, t.st.Message = StatusError, schema.PublicMessage(err)
					return
				}
				t.st.Scan.Requests += page.Scan.Requests
				t.st.Scan.Scanned += page.Scan.Scanned
				t.st.Native, t.st.Pushed = page.Query.Native, page.Query.Pushed
				if page.Query.Unsatisfiable != "" {
					t.st.Status, t.st.Message = StatusUnsatisfiable, page.Query.Unsatisfiable
				}
				if page.Total != nil && req.Cursor == "" && onlyInstance {
					// The vendor's count is exact for this query: no scan needed.
					t.n, t.exact = *page.Total, true
					t.st.Total = page.Total
					add(t.counts, "instance", name, t.n, by)
					return
				}
				for i := range page.Incidents {
					t.n++
					countOne(t.counts, &page.Incidents[i], by)
				}
				if page.Scan.Error != "" {
					t.st.Status, t.st.Message = StatusError, page.Scan.Error
					return
				}
				if !page.HasMore {
					t.exact = true
					n := t.n
					t.st.Total = &n
					return
				}
				req.Cursor = page.NextCursor
			}
		})
	}
	wg.Wait()
	for _, t := range tallies {
		total += t.n
		res.Exact = res.Exact && t.exact
		t.st.Returned = t.n
		t.st.HasMore = !t.exact
		res.Instances = append(res.Instances, t.st)
		for d, m := range t.counts {
			for k, v := range m {
				res.Counts[d][k] += v
			}
		}
		if t.st.Status == StatusError {
			res.Notes = append(res.Notes, fmt.Sprintf("%s failed: %s; its matches are not counted", t.st.Instance, t.st.Message))
		}
	}
	if !res.Exact {
		res.Notes = append(res.Notes, "the counts are lower bounds: not every instance was scanned to the end (see instances[].scan); narrow the filter or ask again")
	}
	for _, d := range by {
		if slices.Contains(timeDimensions, d) {
			fillBuckets(res.Counts[d], d)
		} else if n := trimValues(res.Counts[d]); n > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("by %s: the %d most frequent values; %d more are summed under %s", d, MaxCountValues, n, OtherValues))
		}
	}
	if len(by) == 0 {
		res.Counts = nil
	}
	return res, nil
}

// trimValues keeps the MaxCountValues largest counts of m (ties: the
// smaller key) and sums the rest under OtherValues; it returns how many
// values it summed.
func trimValues(m map[string]int) int {
	if len(m) <= MaxCountValues+1 {
		return 0
	}
	keys := SortedCountKeys(m)
	rest := keys[MaxCountValues:]
	for _, k := range rest {
		m[OtherValues] += m[k]
		delete(m, k)
	}
	return len(rest)
}

// SortedCountKeys orders a dimension's values largest count first (ties:
// by key), the order people read a count in.
func SortedCountKeys(m map[string]int) []string {
	return slices.SortedFunc(maps.Keys(m), func(x, y string) int {
		if m[x] != m[y] {
			return m[y] - m[x]
		}
		return strings.Compare(x, y)
	})
}

// fillBuckets adds the empty buckets between the first and the last.
func fillBuckets(m map[string]int, dim string) {
	if len(m) < 2 {
		return
	}
	keys := slices.Sorted(maps.Keys(m))
	first, err1 := parseBucket(dim, keys[0])
	last, err2 := parseBucket(dim, keys[len(keys)-1])
	if err1 != nil || err2 != nil {
		return
	}
	for t := first; !t.After(last); t = nextBucket(dim, t) {
		k := bucket(dim, t)
		if _, ok := m[k]; !ok {
			m[k] = 0
		}
	}
}

// bucket is the key of t's bucket: 2026-11-20 (day), the Monday of its ISO
// week (week) or 2026-11 (month). Keys sort in date order as strings.
func bucket(dim string, t time.Time) string {
	t = t.UTC()
	switch dim {
	case "week":
		wd := (int(t.Weekday()) + 6) % 7 // days since Monday
		return t.AddDate(0, 0, -wd).Format(time.DateOnly)
	case "month":
		return t.Format("2006-01")
	}
	return t.Format(time.DateOnly)
}

func parseBucket(dim, k string) (time.Time, error) {
	if dim == "month" {
		return time.Parse("2006-01", k)
	}
	return time.Parse(time.DateOnly, k)
}

func nextBucket(dim string, t time.Time) time.Time {
	switch dim {
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

// IsTimeDimension reports whether dim is a created_at bucket, listed in
// date order.
func IsTimeDimension(dim string) bool { return slices.Contains(timeDimensions, dim) }

func add(counts map[string]map[string]int, dim, key string, n int, by []string) {
	if !slices.Contains(by, dim) {
		return
	}
	if counts[dim] == nil {
		counts[dim] = map[string]int{}
	}
	counts[dim][key] += n
}

// countOne adds one incident to each dimension of by. An incident without
// a value counts under "(none)"; one with several tags counts once per tag.
func countOne(counts map[string]map[string]int, inc *schema.Incident, by []string) {
	for _, d := range by {
		switch d {
		case "severity":
			add(counts, d, orNone(string(inc.Severity)), 1, by)
		case "status":
			add(counts, d, orNone(string(inc.Status)), 1, by)
		case "instance":
			add(counts, d, inc.Instance, 1, by)
		case "assignee":
			key := schema.Unassigned
			if inc.Assignee != nil {
				key = inc.Assignee.ID
			}
			add(counts, d, key, 1, by)
		case "tags":
			values(counts, d, inc.Tags, by)
		case "device":
			refs(counts, d, inc.Devices, by)
		case "user":
			refs(counts, d, inc.Users, by)
		case "technique":
			var ts []string
			if inc.Mitre != nil {
				ts = inc.Mitre.Techniques
			}
			values(counts, d, ts, by)
		case "day", "week", "month":
			add(counts, d, bucket(d, inc.CreatedAt), 1, by)
		}
	}
}

// values counts an incident once under each of its distinct values, or
// under "(none)".
func values(counts map[string]map[string]int, dim string, vs []string, by []string) {
	if len(vs) == 0 {
		add(counts, dim, "(none)", 1, by)
	}
	for _, v := range slices.Compact(slices.Sorted(slices.Values(vs))) {
		add(counts, dim, v, 1, by)
	}
}

// refs counts an incident once under each device or user id it names.
func refs(counts map[string]map[string]int, dim string, rs []schema.Ref, by []string) {
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, cmp.Or(r.ID, r.Name))
	}
	values(counts, dim, ids, by)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
