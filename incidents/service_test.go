package incidents_test

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, safe for concurrent reads.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(now.UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func testSealer(t *testing.T) *incidents.Sealer {
	t.Helper()
	s, err := incidents.NewSealer([]byte(strings.Repeat("z", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a service over in-memory instances.
type fixture struct {
	svc     *incidents.Service
	drivers map[string]*memdriver.Driver
	clock   *clock
}

// newFixture serves one memdriver instance per name, each with n incidents
// of its own seed.
func newFixture(t *testing.T, names []string, n int, opts ...incidents.Option) *fixture {
	t.Helper()
	return newFixtureOf(t, memdriver.Config{}, names, n, opts...)
}

// newFixtureOf is newFixture with drivers configured as cfg, but for their
// incidents.
func newFixtureOf(t *testing.T, cfg memdriver.Config, names []string, n int, opts ...incidents.Option) *fixture {
	t.Helper()
	f := &fixture{drivers: map[string]*memdriver.Driver{}, clock: newClock()}
	var ins []*incidents.Instance
	for i, name := range names {
		cfg := cfg
		cfg.Incidents, cfg.Lacks = memdriver.Generate(uint64(i+1), n, now), []string{"tenant"}
		d := memdriver.New(cfg)
		f.drivers[name] = d
		ins = append(ins, &incidents.Instance{Name: name, Driver: d})
	}
	opts = append([]incidents.Option{incidents.WithClock(f.clock.Now)}, opts...)
	svc, err := incidents.New(ins, testSealer(t), slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// want is what the service must find for r over the named instances: the
// stored incidents that match, in order. It is computed without the
// service, from the driver's records and the filter alone.
func (f *fixture) want(t *testing.T, r incidents.QueryRequest, names ...string) []string {
	t.Helper()
	prog, err := filter.Compile(r.Filter, r.Where, now)
	if err != nil {
		t.Fatal(err)
	}
	order, err := schema.ParseOrder(r.OrderBy)
	if err != nil {
		t.Fatal(err)
	}
	var all []schema.Incident
	for _, name := range names {
		for _, inc := range f.drivers[name].Incidents() {
			inc.ID, inc.Instance = schema.JoinID(name, inc.ID), name
			if ok, err := prog.Match(t.Context(), &inc); err != nil {
				t.Fatal(err)
			} else if ok {
				all = append(all, inc)
			}
		}
	}
	slices.SortFunc(all, func(a, b schema.Incident) int { return order.Compare(&a, &b) })
	return ids(all)
}

func ids(incs []schema.Incident) []string {
	out := make([]string, len(incs))
	for i := range incs {
		out[i] = incs[i].ID
	}
	return out
}

// listAll follows the cursors of r to the end and returns every page.
func listAll(t *testing.T, svc *incidents.Service, r incidents.QueryRequest) []*incidents.QueryResult {
	t.Helper()
	var pages []*incidents.QueryResult
	for range 2000 {
		res, err := svc.Query(t.Context(), r)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, res)
		if !res.HasMore {
			return pages
		}
		if res.NextCursor == "" {
			t.Fatal("has_more without a next_cursor")
		}
		r.Cursor = res.NextCursor
	}
	t.Fatal("the listing does not end")
	return nil
}

func found(pages []*incidents.QueryResult) []string {
	var out []string
	for _, p := range pages {
		out = append(out, ids(p.Incidents)...)
	}
	return out
}

func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the case selects nothing: it would prove nothing")
	}
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("found %d incidents, want %d; first difference at %d (got %v, want %v)", len(got), len(want), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
}

// TestPaging: whatever the page size, following the cursors finds exactly
// the matches, in order, once each; exact queries tell the total and never
// claim more than there is; inexact ones resume inside upstream pages.
func TestPaging(t *testing.T) {
	t.Run("pages as asked", func(t *testing.T) { testPaging(t, newFixture(t, []string{"mem"}, 230)) })
	// Pages of 100 whatever the call needs, as Kaspersky serves them: exact
	// queries read a prefix of each page and resume inside it.
	fixed := newFixtureOf(t, memdriver.Config{FixedPageSize: 100}, []string{"mem"}, 230)
	t.Run("fixed pages of 100", func(t *testing.T) { testPaging(t, fixed) })
	if fixed.drivers["mem"].Calls().Prefixes == 0 {
		t.Error("no page was read in part: the prefix path went untested")
	}
}

func testPaging(t *testing.T, f *fixture) {
	for _, q := range []struct {
		name  string
		req   incidents.QueryRequest
		exact bool
	}{
		{"everything", incidents.QueryRequest{}, true},
		{"pushed severity and status", incidents.QueryRequest{Filter: schema.Filter{MinSeverity: "high", Status: []string{"open", "closed"}}}, true},
		{"oldest first", incidents.QueryRequest{OrderBy: "created_at asc"}, true},
		{"unsorted order", incidents.QueryRequest{OrderBy: "severity desc"}, true},
		{"where, checked locally", incidents.QueryRequest{Where: `incident.title.icontains("a")`}, false},
		{"tags, checked locally", incidents.QueryRequest{Filter: schema.Filter{Tags: []string{"edr", "usb"}}}, false},
	} {
		for _, size := range []int{1, 7, 20, 100} {
			t.Run(q.name+"/page size "+strconv.Itoa(size), func(t *testing.T) {
				r := q.req
				r.PageSize = size
				pages := listAll(t, f.svc, r)
				got, want := found(pages), f.want(t, r, "mem")
				if q.req.OrderBy == "severity desc" {
					// The vendor cannot sort by severity: the same set, in storage order.
					if pages[0].Query.Sorted || len(pages[0].Notes) == 0 {
						t.Errorf("an unsorted listing claims sorted: %+v", pages[0].Query)
					}
					slices.Sort(got)
					slices.Sort(want)
				}
				sameIDs(t, got, want)
				for i, p := range pages {
					if len(p.Incidents) > size {
						t.Fatalf("page %d has %d incidents, page_size %d", i, len(p.Incidents), size)
					}
					if q.exact && p.HasMore && len(pages[i+1].Incidents) == 0 {
						t.Fatalf("page %d of an exact query said has_more, but nothing followed", i)
					}
				}
				if first := pages[0]; q.exact != first.Query.Exact || q.exact != (first.Total != nil) {
					t.Errorf("exact %v, total %v; want exact %v", first.Query.Exact, first.Total, q.exact)
				} else if q.exact && *first.Total != len(want) {
					t.Errorf("total %d, want %d", *first.Total, len(want))
				}
			})
		}
	}
}

// TestRecheck: the vendor narrows created_after to whole days (a superset);
// the local check trims what it let through, and a superset is never
// presented as exact.
func TestRecheck(t *testing.T) {
	f := newFixture(t, []string{"mem"}, 230)
	for _, tc := range []struct {
		name   string
		filter schema.Filter
		exact  bool
	}{
		{"midnight bound is exact", schema.Filter{CreatedAfter: "2026-11-01T00:00:00Z"}, true},
		{"mid-day bound is a superset", schema.Filter{CreatedAfter: "2026-11-01T15:30:00Z"}, false},
		{"mid-day window", schema.Filter{CreatedAfter: "2026-10-20T06:00:00Z", CreatedBefore: "2026-11-02T18:00:00Z"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := incidents.QueryRequest{Filter: tc.filter, PageSize: 100}
			pages := listAll(t, f.svc, r)
			sameIDs(t, found(pages), f.want(t, r, "mem"))
			q := pages[0].Query
			if !slices.Contains(q.Pushed, "created_after") || q.Exact != tc.exact {
				t.Fatalf("pushed %v exact %v, want created_after pushed, exact %v", q.Pushed, q.Exact, tc.exact)
			}
			scanned := 0
			for _, p := range pages {
				scanned += p.Scan.Scanned
			}
			if !tc.exact && scanned == len(found(pages)) {
				t.Errorf("the superset let nothing extra through (%d scanned): the case does not test the trim", scanned)
			}
		})
	}
}

// TestBudget: a tight request budget stops a rare search early, with a
// cursor; following the cursors finds exactly what an unbounded search
// finds. A slow vendor stops the scan on the time budget.
func TestBudget(t *testing.T) {
	r := incidents.QueryRequest{Where: `incident.title.icontains("lsass") && incident.severity == CRITICAL`, PageSize: 5}
	for _, requests := range []int{1, 2, 3} {
		t.Run("requests "+strconv.Itoa(requests), func(t *testing.T) {
			f := newFixture(t, []string{"mem"}, 400, incidents.WithBudget(incidents.Budget{Requests: requests, Time: time.Minute}))
			pages := listAll(t, f.svc, r)
			sameIDs(t, found(pages), f.want(t, r, "mem"))
			reached := 0
			for i, p := range pages {
				if p.Scan.Requests > requests {
					t.Fatalf("page %d made %d requests, budget %d", i, p.Scan.Requests, requests)
				}
				if p.Scan.BudgetReached {
					reached++
					if !p.HasMore || p.NextCursor == "" {
						t.Fatalf("page %d stopped on the budget without a cursor", i)
					}
				}
			}
			if reached == 0 {
				t.Error("the budget was never reached")
			}
		})
	}
	t.Run("time", func(t *testing.T) {
		f := newFixture(t, []string{"mem"}, 400, incidents.WithBudget(incidents.Budget{Requests: 100, Time: 30 * time.Millisecond}))
		f.drivers["mem"].SetLatency(20 * time.Millisecond)
		res, err := f.svc.Query(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Scan.BudgetReached || res.Scan.Requests > 3 || !res.HasMore {
			t.Errorf("scan %+v has_more %v: want the time budget to stop it after a few requests", res.Scan, res.HasMore)
		}
	})
}

// TestCursorBinding: a cursor continues only the listing that issued it.
func TestCursorBinding(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 100)
	base := incidents.QueryRequest{Instances: []string{"a"}, Filter: schema.Filter{MinSeverity: "medium"}, PageSize: 5}
	first, err := f.svc.Query(t.Context(), base)
	if err != nil || !first.HasMore {
		t.Fatal(err, first.HasMore)
	}
	many, err := f.svc.Query(t.Context(), incidents.QueryRequest{Filter: base.Filter, PageSize: 5})
	if err != nil || !many.HasMore {
		t.Fatal(err)
	}
	tok := first.NextCursor
	tampered := []byte(tok)
	tampered[len(tampered)/3] ^= 1
	for _, tc := range []struct {
		name   string
		change func(r *incidents.QueryRequest)
	}{
		{"other filter", func(r *incidents.QueryRequest) { r.Filter.MinSeverity = "high" }},
		{"other where", func(r *incidents.QueryRequest) { r.Where = `incident.title != ""` }},
		{"other order", func(r *incidents.QueryRequest) { r.OrderBy = "created_at asc" }},
		{"other instance", func(r *incidents.QueryRequest) { r.Instances = []string{"b"} }},
		{"tampered", func(r *incidents.QueryRequest) { r.Cursor = string(tampered) }},
		{"truncated", func(r *incidents.QueryRequest) { r.Cursor = tok[:len(tok)-2] }},
		{"a fan-out cursor", func(r *incidents.QueryRequest) { r.Cursor = many.NextCursor }},
		{"a one-instance cursor over several", func(r *incidents.QueryRequest) { r.Instances = []string{"a", "b"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			r.Cursor = tok
			tc.change(&r)
			_, err := f.svc.Query(t.Context(), r)
			if se, ok := errors.AsType[*schema.Error](err); !ok || se.Code != schema.CodeInvalidArgument || se.Arg != "cursor" {
				t.Fatalf("Query = %v, want an invalid cursor argument", err)
			}
			if len(r.Instances) > 1 && !strings.Contains(err.Error(), "listing of a alone") {
				t.Errorf("Query = %v, want it to say the cursor continues a's listing", err)
			}
		})
	}
	t.Run("same query, later clock", func(t *testing.T) {
		// Cursors do not expire: they carry the time the listing resolved
		// relative times against, and keep it.
		f.clock.Add(48 * time.Hour)
		defer f.clock.Add(-48 * time.Hour)
		r := base
		r.Filter.CreatedAfter = "10d"
		first, err := f.svc.Query(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Add(72 * time.Hour)
		defer f.clock.Add(-72 * time.Hour)
		r.Cursor = first.NextCursor
		second, err := f.svc.Query(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if !second.Query.Now.Equal(first.Query.Now) || !second.Query.Filter.CreatedAfter.Equal(first.Query.Filter.CreatedAfter) {
			t.Errorf("second page resolved against %v, first against %v", second.Query.Now, first.Query.Now)
		}
	})
}

// TestUpstreamFailure: an error with nothing found fails the call with the
// driver's code; an error after some matches returns them with a cursor
// that retries from where the scan stopped, and nothing is lost.
func TestUpstreamFailure(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   schema.Code
	}{
		{500, schema.CodeUnavailable},
		{403, schema.CodePermissionDenied},
		{429, schema.CodeRateLimited},
		{504, schema.CodeDeadlineExceeded},
	} {
		t.Run("first page "+strconv.Itoa(tc.status), func(t *testing.T) {
			f := newFixture(t, []string{"mem"}, 50)
			f.drivers["mem"].FailNext(tc.status, 1)
			_, err := f.svc.Query(t.Context(), incidents.QueryRequest{})
			if schema.CodeOf(err) != tc.code {
				t.Errorf("vendor %d: %v (code %s), want %s", tc.status, err, schema.CodeOf(err), tc.code)
			}
		})
	}
	t.Run("third page", func(t *testing.T) {
		f := newFixture(t, []string{"mem"}, 300)
		r := incidents.QueryRequest{Where: `incident.title.icontains("lsass")`, PageSize: 100}
		f.drivers["mem"].FailListCall(3, 500)
		first, err := f.svc.Query(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if first.Scan.Error == "" || !first.HasMore || len(first.Incidents) == 0 {
			t.Fatalf("scan %+v has_more %v with %d incidents: want a partial page and a retry cursor", first.Scan, first.HasMore, len(first.Incidents))
		}
		r.Cursor = first.NextCursor
		rest := listAll(t, f.svc, r)
		sameIDs(t, append(ids(first.Incidents), found(rest)...), f.want(t, r, "mem"))
	})
}

// TestExplainAndSkip: explain and unsatisfiable filters make no call.
func TestExplainAndSkip(t *testing.T) {
	f := newFixture(t, []string{"mem"}, 50)
	d := f.drivers["mem"]
	for _, tc := range []struct {
		name string
		req  incidents.QueryRequest
		note string
	}{
		{"explain", incidents.QueryRequest{Filter: schema.Filter{MinSeverity: "high", CreatedAfter: "3d"}, Explain: true}, "explain"},
		{"a field the vendor lacks", incidents.QueryRequest{Filter: schema.Filter{Tenant: "acme"}}, "tenant"},
		{"a contradiction", incidents.QueryRequest{Filter: schema.Filter{Severity: []string{"low"}, MinSeverity: "high"}}, "together"},
		{"ids of another instance", incidents.QueryRequest{Filter: schema.Filter{IDs: []string{"other:inc-0001"}}}, "together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := d.Calls()
			res, err := f.svc.Query(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Calls() != before {
				t.Errorf("the vendor was called: %+v -> %+v", before, d.Calls())
			}
			if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("notes %q do not mention %q", res.Notes, tc.note)
			}
			if !tc.req.Explain && (len(res.Incidents) != 0 || res.Total == nil || *res.Total != 0 || res.HasMore) {
				t.Errorf("want an empty, complete answer: %+v", res)
			}
		})
	}
}

// TestArguments: bad arguments are refused, naming the argument.
func TestArguments(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 10)
	for _, tc := range []struct {
		name string
		req  incidents.QueryRequest
		arg  string
	}{
		{"unknown instance", incidents.QueryRequest{Instances: []string{"c"}}, "instance"},
		{"page size too large", incidents.QueryRequest{Instances: []string{"a"}, PageSize: incidents.MaxPageSize + 1}, "page_size"},
		{"negative page size", incidents.QueryRequest{Instances: []string{"a"}, PageSize: -1}, "page_size"},
		{"unknown order", incidents.QueryRequest{Instances: []string{"a"}, OrderBy: "title"}, "order_by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Query(t.Context(), tc.req)
			if se, ok := errors.AsType[*schema.Error](err); !ok || se.Arg != tc.arg {
				t.Errorf("Query = %v, want an error on %s", err, tc.arg)
			}
		})
	}
}

// claimsExact is a vendor whose selection is looser than its plan says.
type claimsExact struct{ *memdriver.Driver }

func (d claimsExact) Plan(q driver.Query) (*driver.Plan, error) {
	p, err := d.Driver.Plan(q)
	if err == nil {
		p.Exact = true
	}
	return p, err
}

// TestPrefixRunsShort: when a vendor's "exact" selection lets through
// records that do not match, or a local check drops many, the prefix of a
// page the service decoded runs out before the answer is full; the service
// takes the rest of the page from the answer already read, and finds every
// match, in order, once, with no more requests than whole pages take.
func TestPrefixRunsShort(t *testing.T) {
	for _, c := range []struct {
		name string
		r    incidents.QueryRequest
	}{
		{"a vendor that claims exact", incidents.QueryRequest{Filter: schema.Filter{Tags: []string{"edr"}}}},
		{"a rare where", incidents.QueryRequest{Where: `incident.title.icontains("x")`}},
	} {
		f := newFixtureOf(t, memdriver.Config{FixedPageSize: 100}, []string{"mem"}, 230)
		d := f.drivers["mem"]
		prefixed := newService(t, f, claimsExact{d})
		whole := newService(t, f, struct{ driver.Driver }{claimsExact{d}}) // no ListPrefix
		for _, size := range []int{1, 7, 20} {
			t.Run(c.name+"/page size "+strconv.Itoa(size), func(t *testing.T) {
				r := c.r
				r.PageSize = size
				want := f.want(t, r, "mem")
				before := d.Calls()
				sameIDs(t, found(listAll(t, whole, r)), want)
				mid := d.Calls()
				sameIDs(t, found(listAll(t, prefixed, r)), want)
				after := d.Calls()
				if after.Prefixes == mid.Prefixes {
					t.Error("no page was read in part")
				}
				if wholeReqs, prefixReqs := mid.List-before.List, after.List-mid.List; prefixReqs > wholeReqs {
					t.Errorf("%d requests with prefixes, %d with whole pages", prefixReqs, wholeReqs)
				}
			})
		}
	}
}

// newService is a service over f's clock with one instance "mem" served by d.
func newService(t *testing.T, f *fixture, d driver.Driver) *incidents.Service {
	t.Helper()
	svc, err := incidents.New([]*incidents.Instance{{Name: "mem", Driver: d}}, testSealer(t), slog.New(slog.DiscardHandler), incidents.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
