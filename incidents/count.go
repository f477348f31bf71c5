package incidents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// CountDimensions are the facets Count can group by.
var CountDimensions = []string{"severity", "status", "instance", "assignee", "tags", "day"}

// CountResult counts the matches of a filter instead of listing them.
type CountResult struct {
	// Total is the number of matches counted.
	Total int `json:"total"`
	// Exact is true when every instance was scanned to the end (or its
	// vendor's count is exact); otherwise Total and every count are lower
	// bounds and Instances says how far each scan got.
	Exact bool `json:"exact"`
	// Counts maps each count_by dimension to its values' counts.
	Counts    map[string]map[string]int `json:"counts,omitempty"`
	Query     ManyQuery                 `json:"query"`
	Instances []InstanceStatus          `json:"instances"`
	Notes     []string                  `json:"notes,omitempty"`
}

// Count counts the incidents matching r over the named instances (see
// Select), grouped by each of by. Instances are scanned concurrently, each
// within its own call budget; an instance's vendor total is used without a
// scan when it is exact and only the instance dimension is asked.
func (s *Service) Count(ctx context.Context, r ListRequest, names []string, by []string) (*CountResult, error) {
	names, err := s.Select(ctx, "count", names)
	if err != nil {
		return nil, err
	}
	for _, d := range by {
		if !slices.Contains(CountDimensions, d) {
			return nil, schema.ArgError("count_by", "unknown dimension %q; use any of %s", d, strings.Join(CountDimensions, ", "))
		}
	}
	if r.Cursor != "" {
		return nil, schema.ArgError("cursor", "counts are not paged: leave cursor out with count_by")
	}
	now := s.now().UTC().Truncate(time.Second)
	prog, err := schema.Compile(r.Filter, r.Where, now)
	if err != nil {
		return nil, err
	}
	order, err := schema.ParseOrder(r.OrderBy)
	if err != nil {
		return nil, err
	}
	res := &CountResult{Exact: true, Counts: map[string]map[string]int{}, Query: ManyQuery{
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
			req := r
			req.Instance, req.now, req.PageSize, req.OrderBy = name, now, MaxPageSize, ""
			for {
				left := Budget{Requests: budget.Requests - t.st.Scan.Requests, Time: budget.Time - time.Since(start)}
				if left.Requests <= 0 || left.Time <= 0 {
					t.st.Status, t.st.Scan.BudgetReached = StatusBudgetReached, true
					t.st.Message = fmt.Sprintf("counted %d matches in %d records, then the call budget ran out", t.n, t.st.Scan.Scanned)
					return
				}
				req.budget = left
				page, err := s.List(ctx, req)
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
		res.Total += t.n
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
	if len(by) == 0 {
		res.Counts = nil
	}
	return res, nil
}

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
			if len(inc.Tags) == 0 {
				add(counts, d, "(none)", 1, by)
			}
			for _, tag := range slices.Compact(slices.Sorted(slices.Values(inc.Tags))) {
				add(counts, d, tag, 1, by)
			}
		case "day":
			add(counts, d, inc.CreatedAt.UTC().Format(time.DateOnly), 1, by)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
