package incidents_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// listMany follows the cursors of a fan-out to the end.
func listMany(t *testing.T, svc *incidents.Service, r incidents.QueryRequest) []*incidents.QueryResult {
	t.Helper()
	var pages []*incidents.QueryResult
	for range 2000 {
		res, err := svc.Query(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, res)
		if !res.HasMore {
			return pages
		}
		r.Cursor = res.NextCursor
	}
	t.Fatal("the listing does not end")
	return nil
}

// TestFanOutMerge: two instances merge into one listing in the requested
// order, every match once, whatever the page size.
func TestFanOutMerge(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 120)
	for _, r := range []incidents.QueryRequest{
		{},
		{OrderBy: "created_at asc", Filter: schema.Filter{MinSeverity: "medium"}},
		{Where: `incident.title.icontains("o")`},
	} {
		for _, size := range []int{1, 9, 100} {
			t.Run(r.OrderBy+r.Where+"/"+strconv.Itoa(size), func(t *testing.T) {
				r.PageSize = size
				var got []string
				for _, p := range listMany(t, f.svc, r) {
					got = append(got, ids(p.Incidents)...)
					if !p.Query.Sorted {
						t.Fatal("both instances sort by this order")
					}
				}
				sameIDs(t, got, f.want(t, r, "a", "b"))
			})
		}
	}
}

// TestFanOutFailure: a failing instance does not fail the call. A
// transient failure is retried by the cursor; a permanent one is left out.
func TestFanOutFailure(t *testing.T) {
	for _, tc := range []struct {
		status    int
		retried   bool
		wantNotes string
	}{
		{500, true, "next_cursor retries it"},
		{403, false, "left out"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			f := newFixture(t, []string{"a", "b"}, 60)
			f.drivers["b"].FailNext(tc.status, 1)
			r := incidents.QueryRequest{PageSize: 10}
			first, err := f.svc.Query(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			st := map[string]incidents.InstanceStatus{}
			for _, s := range first.Instances {
				st[s.Instance] = s
			}
			if st["a"].Status != incidents.StatusOK || st["b"].Status != incidents.StatusError || st["b"].HasMore != tc.retried {
				t.Fatalf("statuses %+v", slices.Collect(maps.Values(st)))
			}
			if len(first.Incidents) != 10 || slices.ContainsFunc(first.Incidents, func(inc schema.Incident) bool { return inc.Instance != "a" }) {
				t.Errorf("first page: %v, want ten of a", ids(first.Incidents))
			}
			if first.Total != nil {
				t.Error("a total while an instance failed")
			}
			if !slices.ContainsFunc(first.Notes, func(n string) bool { return strings.Contains(n, tc.wantNotes) }) {
				t.Errorf("notes %q", first.Notes)
			}
			r.Cursor = first.NextCursor
			got := ids(first.Incidents)
			for _, p := range listMany(t, f.svc, r) {
				got = append(got, ids(p.Incidents)...)
			}
			wantB := 0
			for _, id := range got {
				if strings.HasPrefix(id, "b:") {
					wantB++
				}
			}
			if tc.retried != (wantB == 60) || (!tc.retried && wantB != 0) {
				t.Errorf("%d incidents of b listed after its %d", wantB, tc.status)
			}
			slices.Sort(got)
			all := f.want(t, incidents.QueryRequest{}, "a")
			if tc.retried {
				all = f.want(t, incidents.QueryRequest{}, "a", "b")
			}
			slices.Sort(all)
			sameIDs(t, got, all)
		})
	}
}

// TestCount: counts over two instances equal a tally of the stored
// incidents; a vendor's exact total is used without a scan; a budget cut
// makes the counts lower bounds and says so.
func TestCount(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 150)
	r := incidents.QueryRequest{Filter: schema.Filter{Tags: []string{"edr", "mail"}}}
	want := map[string]map[string]int{"severity": {}, "status": {}, "instance": {}}
	matches := f.want(t, r, "a", "b")
	for _, name := range []string{"a", "b"} {
		for _, inc := range f.drivers[name].Incidents() {
			if slices.Contains(matches, name+":"+inc.ID) {
				want["severity"][string(inc.Severity)]++
				want["status"][string(inc.Status)]++
				want["instance"][name]++
			}
		}
	}
	res, err := f.svc.Query(t.Context(), withCount(r, nil, []string{"severity", "status", "instance"}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exact || *res.Total != len(matches) {
		t.Errorf("total %d exact %v, want %d exact", *res.Total, res.Exact, len(matches))
	}
	for dim, m := range want {
		if !maps.Equal(res.Counts[dim], m) {
			t.Errorf("%s: %v, want %v", dim, res.Counts[dim], m)
		}
	}

	t.Run("vendor total", func(t *testing.T) {
		r := incidents.QueryRequest{Filter: schema.Filter{Status: []string{"open"}}}
		res, err := f.svc.Query(t.Context(), withCount(r, nil, []string{"instance"}))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.want(t, r, "a", "b")); !res.Exact || *res.Total != n {
			t.Errorf("total %d exact %v, want %d", *res.Total, res.Exact, n)
		}
		for _, st := range res.Instances {
			if st.Scan.Requests != 1 {
				t.Errorf("%s made %d requests; its exact total needs one", st.Instance, st.Scan.Requests)
			}
		}
	})
	t.Run("budget", func(t *testing.T) {
		tight := newFixture(t, []string{"a", "b"}, 150, incidents.WithBudget(incidents.Budget{Requests: 1, Time: 1 << 40}))
		res, err := tight.svc.Query(t.Context(), withCount(incidents.QueryRequest{Where: `incident.title != ""`}, nil, []string{"severity"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Exact || *res.Total >= 300 || len(res.Notes) == 0 {
			t.Errorf("total %d exact %v notes %q: want lower bounds, said", *res.Total, res.Exact, res.Notes)
		}
	})
	t.Run("arguments", func(t *testing.T) {
		if _, err := f.svc.Query(t.Context(), withCount(r, nil, []string{"colour"})); schema.CodeOf(err) != schema.CodeInvalidArgument {
			t.Errorf("unknown dimension: %v", err)
		}
		if _, err := f.svc.Query(t.Context(), incidents.QueryRequest{Cursor: "x", CountBy: []string{}}); schema.CodeOf(err) != schema.CodeInvalidArgument {
			t.Errorf("cursor: %v", err)
		}
		if _, err := f.svc.Query(t.Context(), incidents.QueryRequest{Explain: true, CountBy: []string{"severity"}}); err == nil || !strings.Contains(err.Error(), "explain") {
			t.Errorf("explain: %v, want a refusal rather than a count of nothing", err)
		}
	})
}

// TestCountByPeopleAndTime: counts by device, user and week equal a tally
// of the stored incidents (devices past the first MaxCountValues summed
// under OtherValues), and the week buckets run without a gap from the
// first to the last.
func TestCountByPeopleAndTime(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 150)
	r := incidents.QueryRequest{Filter: schema.Filter{MinSeverity: "medium"}}
	matches := f.want(t, r, "a", "b")
	devices, users := map[string]int{}, map[string]int{}
	for _, name := range []string{"a", "b"} {
		for _, inc := range f.drivers[name].Incidents() {
			if !slices.Contains(matches, name+":"+inc.ID) {
				continue
			}
			for _, d := range inc.Devices {
				devices[d.ID]++
			}
			for _, u := range inc.Users {
				users[u.ID]++
			}
		}
	}
	res, err := f.svc.Query(t.Context(), withCount(r, nil, []string{"device", "user", "week"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) <= incidents.MaxCountValues {
		t.Fatalf("only %d devices: the test needs more than %d", len(devices), incidents.MaxCountValues)
	}
	top := incidents.SortedCountKeys(devices)
	got := res.Counts["device"]
	for _, d := range top[:incidents.MaxCountValues] {
		if got[d] != devices[d] {
			t.Errorf("device %s: %d, the store has %d", d, got[d], devices[d])
		}
	}
	others := 0
	for _, d := range top[incidents.MaxCountValues:] {
		others += devices[d]
	}
	if got[incidents.OtherValues] != others || len(got) != incidents.MaxCountValues+1 {
		t.Errorf("devices beyond the first %d: %d under %s in %d keys, want %d", incidents.MaxCountValues, got[incidents.OtherValues], incidents.OtherValues, len(got), others)
	}
	if len(users) <= incidents.MaxCountValues+1 && !maps.Equal(res.Counts["user"], users) {
		t.Errorf("users %v, want %v", res.Counts["user"], users)
	}
	weeks := slices.Sorted(maps.Keys(res.Counts["week"]))
	sum := 0
	for i, w := range weeks {
		day, err := time.Parse(time.DateOnly, w)
		if err != nil || day.Weekday() != time.Monday {
			t.Fatalf("week bucket %q is not a Monday", w)
		}
		if i > 0 && weeks[i-1] != day.AddDate(0, 0, -7).Format(time.DateOnly) {
			t.Errorf("a gap before week %s", w)
		}
		sum += res.Counts["week"][w]
	}
	if sum != len(matches) {
		t.Errorf("weeks add up to %d, want %d", sum, len(matches))
	}
}

// withCount is r asking for counts by by over names.
func withCount(r incidents.QueryRequest, names []string, by []string) incidents.QueryRequest {
	r.Instances, r.CountBy = names, by
	return r
}
