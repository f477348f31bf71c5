package tools_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
)

// fanoutCases are the filters of the fan-out tests: the drivertest table
// over the union of the datasets, the where table and generated ones.
func fanoutCases(t *testing.T, f *fixture) (map[string]equivCase, []schema.Incident) {
	t.Helper()
	var all []schema.Incident
	for _, in := range f.env.Instances {
		ds, err := drivertest.Dataset(t.Context(), in.Driver, in.Name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ds...)
	}
	cases := map[string]equivCase{}
	for name, flt := range drivertest.Filters(all, fixtureNow) {
		if len(flt.IDs) == 0 {
			cases["table/"+name] = equivCase{filter: flt}
		}
	}
	for name, w := range whereTable {
		cases["where/"+name] = equivCase{where: w}
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(all))))
	for i := range 12 {
		cases[fmt.Sprintf("generated/%02d", i)] = generate(rng, all)
	}
	cases["unsatisfiable/tenant"] = equivCase{filter: schema.Filter{Tenant: "t-1"}}
	cases["unsatisfiable/tags"] = equivCase{filter: schema.Filter{Tags: []string{"pii"}, MinSeverity: "high"}}
	cases["unsatisfiable/policy"] = equivCase{filter: schema.Filter{PolicyIDs: []string{"p-1"}}}
	return cases, all
}

func want(t *testing.T, all []schema.Incident, tc equivCase) []string {
	t.Helper()
	prog, err := filter.Compile(tc.filter, tc.where, fixtureNow)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range all {
		if ok, err := prog.Match(t.Context(), &all[i]); err != nil {
			t.Fatal(err)
		} else if ok {
			out = append(out, all[i].ID)
		}
	}
	return out
}

// TestFanoutEquivalence: list_incidents over every instance, paged to the
// end, returns the union of what each instance holds that matches — no
// duplicates, none missing, newest first where every instance sorts — at
// page sizes 1, 7 and 100.
func TestFanoutEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("pages through every filter three times")
	}
	// A smaller dataset, so that page size 1 over every filter stays quick.
	f := newFixtureTB(t, protocolVersions[1], setup{incidents: 40, mem: true})
	cases, all := fanoutCases(t, f)
	if len(cases) < 50 {
		t.Fatalf("only %d filters", len(cases))
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		tc := cases[name]
		wantIDs := want(t, all, tc)
		for _, size := range []int{1, 7, 100} {
			t.Run(fmt.Sprintf("%s/page%d", name, size), func(t *testing.T) {
				args := tc.args("")
				delete(args, "instance")
				args["page_size"] = size
				got, sorted := listAllMany(t, f, args)
				if dup := duplicates(ids(got)); len(dup) > 0 {
					t.Fatalf("duplicates: %v", head(dup))
				}
				if !sameSet(ids(got), wantIDs) {
					t.Fatalf("got %d incidents, want %d\ngot  %v\nwant %v", len(got), len(wantIDs), head(ids(got)), head(wantIDs))
				}
				if sorted && !slices.IsSortedFunc(got, func(a, b map[string]any) int {
					return strings.Compare(b["created_at"].(string), a["created_at"].(string))
				}) {
					t.Error("every instance sorts by created_at desc, but the merged list is not in that order")
				}
			})
		}
	}
	nonEmpty := 0
	for _, tc := range cases {
		if len(want(t, all, tc)) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 50 {
		t.Errorf("only %d filters match anything", nonEmpty)
	}
}

// listAllMany pages through a multi-instance list, checking each page's
// shape; sorted reports whether every page said it was in order.
func listAllMany(t *testing.T, f *fixture, args map[string]any) (out []map[string]any, sorted bool) {
	t.Helper()
	a := maps.Clone(args)
	sorted = true
	for range 2000 {
		res, sc := f.call(t, tools.ListIncidents, a)
		if res.IsError {
			t.Fatalf("list_incidents(%v): %s", a, text(res))
		}
		q := sc["query"].(map[string]any)
		sorted = sorted && q["sorted"] == true
		if sts, _ := sc["instances"].([]any); len(sts) != len(f.svc.Instances()) {
			t.Fatalf("instances status has %d entries", len(sts))
		}
		page := sc["incidents"].([]any)
		if size, _ := a["page_size"].(int); len(page) > size {
			t.Fatalf("%d incidents on a page of %d", len(page), size)
		}
		for _, inc := range page {
			out = append(out, inc.(map[string]any))
		}
		if sc["has_more"] != true {
			return out, sorted
		}
		a["cursor"] = sc["next_cursor"]
	}
	t.Fatal("more than 2000 pages")
	return nil, false
}

func duplicates(ids []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, id := range ids {
		if seen[id] {
			dup = append(dup, id)
		}
		seen[id] = true
	}
	return dup
}

// TestFanoutUnsatisfiable: a filter an instance can never meet is reported
// for that instance, with the driver's reason, not as a silent empty page.
func TestFanoutUnsatisfiable(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	for _, tc := range []struct {
		args     map[string]any
		instance string
		reason   string
	}{
		{map[string]any{"tenant": "t-1"}, "eset", "ESET incidents have no tenant"},
		{map[string]any{"tenant": "t-1"}, "dlp", "DLP incidents have no tenant"},
		{map[string]any{"tags": []string{"pii"}}, "kaspersky", "Kaspersky incidents have no tags"},
		{map[string]any{"policy_ids": []string{"p"}}, "eset", "ESET incidents have no policy"},
		{map[string]any{"severity": []string{"critical"}}, "eset", "ESET has no critical severity"},
	} {
		_, sc := f.call(t, tools.ListIncidents, tc.args)
		var st map[string]any
		for _, s := range sc["instances"].([]any) {
			if s := s.(map[string]any); s["instance"] == tc.instance {
				st = s
			}
		}
		if st["status"] != incidents.StatusUnsatisfiable || !strings.Contains(fmt.Sprint(st["message"]), tc.reason) {
			t.Errorf("%v: %s status %v, want unsatisfiable with %q", tc.args, tc.instance, st, tc.reason)
		}
	}
	// One instance asked alone says why too.
	res, _ := f.call(t, tools.ListIncidents, map[string]any{"instance": "kaspersky", "tags": []string{"pii"}})
	if !strings.Contains(text(res), "Kaspersky incidents have no tags") {
		t.Errorf("single-instance list gives no reason:\n%s", text(res))
	}
}

// faulty fronts a simulator and answers list requests with 500 or 429
// while failing is set.
type faulty struct {
	next    http.Handler
	failing atomic.Bool
	hits    atomic.Int64
}

func (p *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.failing.Load() && strings.HasPrefix(r.URL.Path, "/v2/incidents") {
		if p.hits.Add(1)%2 == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
			return
		}
		http.Error(w, `{"message":"upstream exploded"}`, http.StatusInternalServerError)
		return
	}
	p.next.ServeHTTP(w, r)
}

// TestFanoutFailingInstance: one instance answering 500s and 429s does not
// fail the call: the others' incidents come back with that instance's
// error status, and the cursor retries it once it recovers.
func TestFanoutFailingInstance(t *testing.T) {
	proxy := &faulty{}
	proxy.failing.Store(true)
	f := newFixtureTB(t, protocolVersions[1], setup{extra: func(env *demotest.Env) []*incidents.Instance {
		proxy.next = env.ESET
		srv := httptest.NewServer(proxy)
		t.Cleanup(srv.Close)
		d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo", RateLimit: 10_000,
			Common: descriptor.Common{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}})
		if err != nil {
			t.Fatal(err)
		}
		return []*incidents.Instance{{Name: "eset-flaky", Driver: d}}
	}})
	args := map[string]any{"min_severity": "high", "page_size": 100}
	res, sc := f.call(t, tools.ListIncidents, args)
	if res.IsError {
		t.Fatalf("one failing instance failed the call: %s", text(res))
	}
	byInstance := map[string]map[string]any{}
	for _, s := range sc["instances"].([]any) {
		byInstance[s.(map[string]any)["instance"].(string)] = s.(map[string]any)
	}
	flaky := byInstance["eset-flaky"]
	if flaky["status"] != incidents.StatusError || !strings.Contains(fmt.Sprint(flaky["message"]), "eset-flaky") || flaky["has_more"] != true {
		t.Errorf("eset-flaky status %v", flaky)
	}
	if byInstance["eset"]["status"] != incidents.StatusOK {
		t.Errorf("eset status %v", byInstance["eset"])
	}
	seen := map[string]int{}
	for _, inc := range sc["incidents"].([]any) {
		// List records carry the instance in their id only.
		name, _, _ := schema.SplitID(inc.(map[string]any)["id"].(string))
		seen[name]++
	}
	if seen["eset"] == 0 || seen["kaspersky"] == 0 || seen["dlp"] == 0 || seen["eset-flaky"] != 0 {
		t.Errorf("incidents per instance %v", seen)
	}
	if sc["has_more"] != true || sc["next_cursor"] == nil {
		t.Fatal("no cursor to retry the failed instance")
	}
	if !strings.Contains(text(res), "eset-flaky failed") {
		t.Errorf("the text does not say eset-flaky failed:\n%s", text(res))
	}

	// Recovered: following the cursor to the end yields every instance,
	// and eset-flaky's incidents are exactly eset's (the same simulator).
	proxy.failing.Store(false)
	var got []map[string]any
	for _, inc := range sc["incidents"].([]any) {
		got = append(got, inc.(map[string]any))
	}
	a := maps.Clone(args)
	a["cursor"] = sc["next_cursor"]
	more, _ := listAllMany(t, f, a)
	got = append(got, more...)
	count := map[string]int{}
	for _, inc := range got {
		name, _, _ := schema.SplitID(inc["id"].(string))
		count[name]++
	}
	if count["eset-flaky"] == 0 || count["eset-flaky"] != count["eset"] {
		t.Errorf("after recovery: %v; eset-flaky should match eset", count)
	}
	if dup := duplicates(ids(got)); len(dup) > 0 {
		t.Errorf("duplicates after the retry: %v", head(dup))
	}
}

// TestCounts: count_by totals equal the length of the full list for the
// same filter, and each dimension's counts add up, for at least 30 filters.
func TestCounts(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], setup{mem: true})
	cases, all := fanoutCases(t, f)
	n := 0
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		if n == 32 {
			break
		}
		n++
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			args := tc.args("")
			delete(args, "instance")
			args["count_by"] = []string{"severity", "instance", "status", "day"}
			res, sc := f.call(t, tools.ListIncidents, args)
			if res.IsError {
				t.Fatal(text(res))
			}
			wantIDs := want(t, all, tc)
			if sc["exact"] != true || int(sc["total"].(float64)) != len(wantIDs) {
				t.Fatalf("count %v (exact %v), want %d\n%s", sc["total"], sc["exact"], len(wantIDs), text(res))
			}
			delete(args, "count_by")
			args["page_size"] = 100
			list, _ := listAllMany(t, f, args)
			if len(list) != len(wantIDs) {
				t.Fatalf("list has %d, count says %d", len(list), len(wantIDs))
			}
			bySeverity := map[string]int{}
			for _, inc := range list {
				bySeverity[fmt.Sprint(inc["severity"])]++
			}
			counts := sc["counts"].(map[string]any)
			for dim, m := range counts {
				sum := 0
				for _, v := range m.(map[string]any) {
					sum += int(v.(float64))
				}
				if sum != len(wantIDs) {
					t.Errorf("counts by %s add up to %d, want %d", dim, sum, len(wantIDs))
				}
			}
			for sev, c := range counts["severity"].(map[string]any) {
				if bySeverity[sev] != int(c.(float64)) {
					t.Errorf("severity %s: count %v, list %d", sev, c, bySeverity[sev])
				}
			}
		})
	}
	if n < 30 {
		t.Fatalf("only %d filters", n)
	}
}

// TestCountLowerBound: when the budget stops a scan, the count is a lower
// bound and says how far each instance got.
func TestCountLowerBound(t *testing.T) {
	f := newFixtureTB(t, protocolVersions[0], setup{extra: func(env *demotest.Env) []*incidents.Instance {
		for _, in := range env.Instances {
			in.Budget = incidents.Budget{Requests: 1}
		}
		return nil
	}})
	res, sc := f.call(t, tools.ListIncidents, map[string]any{"count_by": []string{"severity"}, "title_contains": "e"})
	if res.IsError {
		t.Fatal(text(res))
	}
	if sc["exact"] != false || !strings.Contains(text(res), "at least") {
		t.Errorf("a budget-stopped count is not marked as a lower bound:\n%s", text(res))
	}
	var reached bool
	for _, s := range sc["instances"].([]any) {
		st := s.(map[string]any)
		reached = reached || st["status"] == incidents.StatusBudgetReached
	}
	if !reached {
		t.Errorf("no instance reports budget_reached:\n%s", text(res))
	}
}

// TestDescribeInstances: capabilities come from the drivers' own plans.
func TestDescribeInstances(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 1})
	res, sc := f.call(t, tools.DescribeInstances, nil)
	if res.IsError {
		t.Fatal(text(res))
	}
	caps := map[string]map[string]any{}
	for _, c := range sc["instances"].([]any) {
		caps[c.(map[string]any)["name"].(string)] = c.(map[string]any)
	}
	if len(caps) != 3 {
		t.Fatalf("%d instances described", len(caps))
	}
	has := func(in, key, v string) bool {
		l, _ := caps[in][key].([]any)
		return slices.Contains(l, any(v))
	}
	for _, c := range []struct {
		in, key, v string
	}{
		{"eset", "native_filters", "severity"},
		{"kaspersky", "native_filters", "tenant"},
		{"kaspersky", "local_filters", "assignee"},
		{"dlp", "native_filters", "policy_ids"},
		{"dlp", "local_filters", "title_contains"},
		{"eset", "writable", "title"},
		{"kaspersky", "sorts", "created_at desc"},
	} {
		if !has(c.in, c.key, c.v) {
			t.Errorf("%s %s lacks %s: %v", c.in, c.key, c.v, caps[c.in][c.key])
		}
	}
	if u, _ := caps["eset"]["unsatisfiable_filters"].(map[string]any); u["tenant"] == nil {
		t.Errorf("eset unsatisfiable filters %v", caps["eset"]["unsatisfiable_filters"])
	}
	if caps["eset"]["last_contact"] == nil || caps["dlp"]["last_contact"] != nil {
		t.Errorf("last contact: eset %v, dlp %v (only eset was called)", caps["eset"]["last_contact"], caps["dlp"]["last_contact"])
	}
	if !strings.Contains(fmt.Sprint(caps["dlp"]["rate_limit"]), "requests per") {
		t.Errorf("dlp rate limit %v", caps["dlp"]["rate_limit"])
	}
}
