// Package drivertest is the conformance suite every vendor driver passes
// against its simulator: listing and paging, normalization (every
// resolution a record carries is normalized or declared in
// Info.Resolutions), get, pushdown that never loses a match, honest exactness and order, error codes, and
// writes: CheckPatch refuses what the vendor would, accepts only what it
// takes, Steps are exactly the vendor writes, and a lost answer is an
// unknown outcome.
package drivertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Harness connects a driver to a fresh, seeded simulator.
type Harness interface {
	// MakeDriver returns a driver and its backend. The backend's dataset
	// should hold a few hundred incidents and no rate limit that would slow
	// the suite.
	MakeDriver(t *testing.T) (driver.Driver, Backend)
}

// Backend is the simulator behind a driver.
type Backend interface {
	// FailNext makes the next n API requests answer status.
	FailNext(status, n int)
	// MissingID is a well-formed native id of no incident.
	MissingID() string
}

// instance is the name incidents get while the suite evaluates filters.
const instance = "conf"

// RunConformanceTests runs the whole suite against h.
func RunConformanceTests(t *testing.T, h Harness) {
	t.Run("ListAll", func(t *testing.T) { testListAll(t, h) })
	t.Run("Get", func(t *testing.T) { testGet(t, h) })
	t.Run("Pushdown", func(t *testing.T) { testPushdown(t, h) })
	t.Run("Order", func(t *testing.T) { testOrder(t, h) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, h) })
	t.Run("Writes", func(t *testing.T) { testWrites(t, h) })
	t.Run("Prefix", func(t *testing.T) { testPrefix(t, h) })
	t.Run("Sections", func(t *testing.T) { testSections(t, h) })
	t.Run("Resolutions", func(t *testing.T) { testResolutionInfo(t, h) })
}

// testPrefix: a driver.PrefixLister's prefix of every page is that page's
// start, with the rest counted in Unread and the same Next and Total, on the
// first page, a middle one and the last.
func testPrefix(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	pl, ok := d.(driver.PrefixLister)
	if !ok {
		t.Skip("the driver lists whole pages only")
	}
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: d.Info().MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var positions []string
	for pos := ""; ; {
		positions = append(positions, pos)
		page, err := d.List(t.Context(), plan, pos)
		if err != nil {
			t.Fatal(err)
		}
		if page.Next == "" {
			break
		}
		pos = page.Next
	}
	if len(positions) > 3 {
		positions = []string{positions[0], positions[len(positions)/2], positions[len(positions)-1]}
	}
	for _, pos := range positions {
		whole, err := d.List(t.Context(), plan, pos)
		if err != nil {
			t.Fatal(err)
		}
		if whole.Unread != 0 {
			t.Errorf("List at %q: Unread %d, want 0", pos, whole.Unread)
		}
		for _, n := range []int{1, 21, len(whole.Incidents), len(whole.Incidents) + 1, 0} {
			page, err := pl.ListPrefix(t.Context(), plan, pos, n)
			if err != nil {
				t.Fatalf("ListPrefix(%q, %d): %v", pos, n, err)
			}
			want := whole.Incidents
			if n > 0 && n < len(want) {
				want = want[:n]
			}
			if len(page.Incidents) != len(want) || page.Unread != len(whole.Incidents)-len(want) {
				t.Errorf("ListPrefix(%q, %d): %d records and %d unread; the page holds %d", pos, n, len(page.Incidents), page.Unread, len(whole.Incidents))
				continue
			}
			if (page.Rest == nil) != (page.Unread == 0) {
				t.Errorf("ListPrefix(%q, %d): %d unread, Rest set %v", pos, n, page.Unread, page.Rest != nil)
				continue
			}
			got := page.Incidents
			if page.Rest != nil {
				rest, err := page.Rest()
				if err != nil {
					t.Fatalf("ListPrefix(%q, %d).Rest: %v", pos, n, err)
				}
				got = append(slices.Clip(got), rest...)
			}
			if len(got) != len(whole.Incidents) {
				t.Errorf("ListPrefix(%q, %d): the prefix and the rest are %d records, the page %d", pos, n, len(got), len(whole.Incidents))
				continue
			}
			for i := range got {
				if got[i].ID != whole.Incidents[i].ID || got[i].Title != whole.Incidents[i].Title {
					t.Errorf("ListPrefix(%q, %d) record %d is %s, List's is %s", pos, n, i, got[i].ID, whole.Incidents[i].ID)
				}
			}
			if page.Next != whole.Next || page.Total != whole.Total || page.TotalKnown != whole.TotalKnown {
				t.Errorf("ListPrefix(%q, %d): next %q total %d/%v; List: %q %d/%v", pos, n, page.Next, page.Total, page.TotalKnown, whole.Next, whole.Total, whole.TotalKnown)
			}
		}
	}
}

// ListAll pages through everything plan selects.
func ListAll(ctx context.Context, d driver.Driver, q driver.Query) ([]schema.Incident, *driver.Plan, error) {
	plan, err := d.Plan(q)
	if err != nil {
		return nil, nil, err
	}
	if plan.Skip {
		return nil, plan, nil
	}
	var out []schema.Incident
	pos := ""
	for range 10_000 {
		page, err := d.List(ctx, plan, pos)
		if err != nil {
			return nil, plan, err
		}
		out = append(out, page.Incidents...)
		if page.Next == "" {
			return out, plan, nil
		}
		if page.Next == pos {
			return nil, plan, fmt.Errorf("position %q repeats", pos)
		}
		pos = page.Next
	}
	return nil, plan, fmt.Errorf("more than 10000 pages")
}

func testListAll(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	info := d.Info()
	if info.Vendor == "" || info.MaxPageSize < 1 {
		t.Fatalf("Info() = %+v: Vendor and MaxPageSize are required", info)
	}
	for _, size := range []int{1, 37, info.MaxPageSize} {
		t.Run(fmt.Sprint("page size ", size), func(t *testing.T) {
			if size == 1 && testing.Short() {
				t.Skip("slow")
			}
			all, plan, err := ListAll(t.Context(), d, driver.Query{Order: schema.DefaultOrder, PageSize: size})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) == 0 {
				t.Fatal("the backend's dataset listed empty")
			}
			if !plan.Exact {
				t.Error("a plan without criteria must be exact")
			}
			seen := map[string]bool{}
			for i := range all {
				inc := &all[i]
				if seen[inc.ID] {
					t.Fatalf("incident %s listed twice", inc.ID)
				}
				seen[inc.ID] = true
				checkNormalized(t, info, inc)
			}
			page, err := d.List(t.Context(), plan, "")
			if err != nil {
				t.Fatal(err)
			}
			if page.TotalKnown && page.Total != len(all) {
				t.Errorf("Total = %d, listed %d", page.Total, len(all))
			}
		})
		if size == info.MaxPageSize {
			break
		}
	}
}

func checkNormalized(t *testing.T, info driver.Info, inc *schema.Incident) {
	t.Helper()
	switch {
	case inc.ID == "" || strings.HasPrefix(inc.ID, instance+":"):
		t.Errorf("incident %q: ID must be the bare native id", inc.ID)
	case inc.Vendor != info.Vendor:
		t.Errorf("%s: vendor %q, want %q", inc.ID, inc.Vendor, info.Vendor)
	case inc.Title == "":
		t.Errorf("%s: empty title", inc.ID)
	case inc.CreatedAt.IsZero() || inc.CreatedAt.Location() != time.UTC:
		t.Errorf("%s: created_at %v must be set, in UTC", inc.ID, inc.CreatedAt)
	case inc.Severity != "" && !inc.Severity.Valid():
		t.Errorf("%s: severity %q", inc.ID, inc.Severity)
	case !inc.Status.Valid():
		t.Errorf("%s: status %q", inc.ID, inc.Status)
	case inc.Raw != nil:
		t.Errorf("%s: list results carry Raw", inc.ID)
	case resolutionProblem(info, inc) != "":
		t.Error(resolutionProblem(info, inc))
	}
}

func testGet(t *testing.T, h Harness) {
	d, b := h.MakeDriver(t)
	listed, _, err := ListAll(t.Context(), d, driver.Query{Order: schema.DefaultOrder, PageSize: d.Info().MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(listed); i += max(1, len(listed)/7) {
		want := listed[i]
		got, err := d.Get(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("Get(%s): %v", want.ID, err)
		}
		if got.ID != want.ID || got.Title != want.Title || got.Severity != want.Severity ||
			got.Status != want.Status || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("Get(%s) = %+v\nlisted as %+v", want.ID, got, want)
		}
		if len(got.Raw) == 0 {
			t.Errorf("Get(%s): Raw must hold the vendor's record", want.ID)
		}
		if p := resolutionProblem(d.Info(), got); p != "" {
			t.Errorf("Get: %s", p)
		}
	}
	_, err = d.Get(t.Context(), b.MissingID())
	if code := d.ErrorCode(err); err == nil || code != schema.CodeNotFound {
		t.Errorf("Get(missing) = %v (code %s), want not_found", err, code)
	}
}

// Dataset lists every incident of d in full (through Get when lists omit
// fields that filters read), with ids prefixed by instance as the service
// would: what a filter is evaluated over to know the true matches.
func Dataset(ctx context.Context, d driver.Driver, instance string) ([]schema.Incident, error) {
	all, _, err := ListAll(ctx, d, driver.Query{Order: schema.DefaultOrder, PageSize: d.Info().MaxPageSize, Fields: []string{"*"}})
	if err != nil {
		return nil, err
	}
	if len(d.Info().ListOmits) > 0 {
		for i := range all {
			full, err := d.Get(ctx, all[i].ID)
			if err != nil {
				return nil, err
			}
			full.Details, full.Raw = nil, nil
			all[i] = *full
		}
	}
	for i := range all {
		all[i].ID = schema.JoinID(instance, all[i].ID)
		all[i].Instance = instance
		all[i].Vendor = d.Info().Vendor
	}
	return all, nil
}

// Filters derives a table of filters from a dataset: each value present in
// it, and combinations, so every filter selects something worth checking.
func Filters(all []schema.Incident, now time.Time) map[string]schema.Filter {
	f := map[string]schema.Filter{"everything": {}}
	pick := func(i int) *schema.Incident { return &all[(i*7919)%len(all)] }
	for _, s := range schema.Severities {
		f["severity "+string(s)] = schema.Filter{Severity: []string{string(s)}}
		f["min_severity "+string(s)] = schema.Filter{MinSeverity: string(s)}
	}
	for _, s := range schema.Statuses {
		f["status "+string(s)] = schema.Filter{Status: []string{string(s)}}
	}
	f["status open or in_progress"] = schema.Filter{Status: []string{"open", "in_progress"}}
	f["contradiction"] = schema.Filter{Severity: []string{"low"}, MinSeverity: "high"}
	for i := range 3 {
		inc := pick(i)
		c := inc.CreatedAt.Format(time.RFC3339Nano)
		f[fmt.Sprint("created_after exact bound ", i)] = schema.Filter{CreatedAfter: c}
		f[fmt.Sprint("created_before exact bound ", i)] = schema.Filter{CreatedBefore: c}
		f[fmt.Sprint("updated window ", i)] = schema.Filter{UpdatedAfter: inc.UpdatedAt.Add(-72 * time.Hour).Format(time.RFC3339), UpdatedBefore: inc.UpdatedAt.Format(time.RFC3339Nano)}
		f[fmt.Sprint("id ", i)] = schema.Filter{IDs: []string{inc.ID, pick(i + 10).ID}}
		if words := strings.Fields(inc.Title); len(words) > 1 {
			f[fmt.Sprint("title word upper ", i)] = schema.Filter{TitleContains: strings.ToUpper(words[1])}
		}
		f[fmt.Sprint("title whole ", i)] = schema.Filter{TitleContains: inc.Title}
		if len(inc.Tags) > 0 {
			f[fmt.Sprint("tag ", i)] = schema.Filter{Tags: inc.Tags[:1]}
			f[fmt.Sprint("tags any ", i)] = schema.Filter{Tags: append([]string{"no-such-tag"}, inc.Tags...)}
		}
		if inc.Assignee != nil {
			f[fmt.Sprint("assignee ", i)] = schema.Filter{Assignee: inc.Assignee.ID}
		}
		if len(inc.Devices) > 0 {
			f[fmt.Sprint("device ", i)] = schema.Filter{DeviceIDs: []string{inc.Devices[0].ID}}
		}
		if len(inc.Users) > 0 {
			f[fmt.Sprint("user ", i)] = schema.Filter{UserIDs: []string{inc.Users[0].ID}}
		}
		if inc.Policy != nil {
			f[fmt.Sprint("policy ", i)] = schema.Filter{PolicyIDs: []string{inc.Policy.ID}}
		}
		if inc.Tenant != "" {
			f[fmt.Sprint("tenant ", i)] = schema.Filter{Tenant: inc.Tenant}
		}
		f[fmt.Sprint("combo ", i)] = schema.Filter{MinSeverity: "medium", Status: []string{string(inc.Status), "closed"}, CreatedAfter: "30d"}
	}
	f["unassigned open"] = schema.Filter{Assignee: "unassigned", Status: []string{"open"}}
	f["injection title"] = schema.Filter{TitleContains: `x") || true || ("`}
	f["regex title"] = schema.Filter{TitleContains: `a.b*(c)[d]+$`}
	f["last 7 days"] = schema.Filter{CreatedAfter: "7d"}
	f["no such tag"] = schema.Filter{Tags: []string{"no-such-tag"}}
	return f
}

func testPushdown(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	all, err := Dataset(t.Context(), d, instance)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	filters := Filters(all, now)
	for _, name := range slices.Sorted(maps.Keys(filters)) {
		f := filters[name]
		t.Run(name, func(t *testing.T) {
			prog, err := filter.Compile(f, "", now)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for i := range all {
				if ok, err := prog.Match(t.Context(), &all[i]); err != nil {
					t.Fatal(err)
				} else if ok {
					want[all[i].ID] = true
				}
			}
			crit := prog.Criteria
			crit.IDs = nil
			for _, id := range prog.Criteria.IDs {
				_, n, _ := schema.SplitID(id)
				crit.IDs = append(crit.IDs, n)
			}
			got, plan, err := ListAll(t.Context(), d, driver.Query{Criteria: crit, Order: schema.DefaultOrder, PageSize: d.Info().MaxPageSize})
			if err != nil {
				t.Fatalf("list with plan: %v", err)
			}
			if plan.Skip && len(want) > 0 {
				t.Fatalf("plan skips the call but %d incidents match", len(want))
			}
			gotIDs := map[string]bool{}
			for _, inc := range got {
				gotIDs[schema.JoinID(instance, inc.ID)] = true
			}
			for id := range want {
				if !gotIDs[id] {
					t.Fatalf("native request %+v lost match %s (pushdown must select a superset)", plan.Native, id)
				}
			}
			if plan.Exact && len(d.Info().ListOmits) == 0 && len(gotIDs) != len(want) {
				t.Errorf("plan claims exact, but the vendor returned %d records for %d matches", len(gotIDs), len(want))
			}
			if plan.Exact && len(gotIDs) != len(want) {
				for id := range gotIDs {
					if !want[id] && !usesOmitted(prog, d.Info()) {
						t.Errorf("plan claims exact but %s does not match", id)
						break
					}
				}
			}
		})
	}
}

func usesOmitted(p *filter.Program, info driver.Info) bool {
	return slices.ContainsFunc(info.ListOmits, p.Uses)
}

func testOrder(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	for _, o := range d.Info().Sorts {
		t.Run(o.String(), func(t *testing.T) {
			got, plan, err := ListAll(t.Context(), d, driver.Query{Order: o, PageSize: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Sorted {
				t.Fatalf("Info lists %s among Sorts, but its plan is not sorted", o)
			}
			keyOnly := schema.Order{Key: o.Key, Desc: o.Desc}
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				a.ID, b.ID = "", "" // vendors break ties their own way
				if keyOnly.Compare(&a, &b) > 0 {
					t.Fatalf("records %d and %d out of %s order: %v then %v", i-1, i, o, got[i-1].ID, got[i].ID)
				}
			}
		})
	}
}

func testErrors(t *testing.T, h Harness) {
	d, b := h.MakeDriver(t)
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		want   schema.Code
	}{
		{500, schema.CodeUnavailable},
		{403, schema.CodePermissionDenied},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			b.FailNext(tc.status, 20)
			_, err := d.List(ctx, plan, "")
			b.FailNext(tc.status, 0)
			if err == nil {
				t.Fatalf("List succeeded while the vendor answered %d", tc.status)
			}
			if got := d.ErrorCode(err); got != tc.want {
				t.Errorf("ErrorCode(%v) = %s, want %s", err, got, tc.want)
			}
		})
	}
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := d.List(ctx, plan, ""); err == nil {
			t.Error("List with a canceled context succeeded")
		}
	})
}
