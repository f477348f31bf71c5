package incidents_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/schema"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T, opts ...incidents.Option) (*incidents.Service, *demo.Env) {
	t.Helper()
	env, err := demo.Start(demo.Options{Seed: 5, Incidents: 400, Now: now, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("z", 32)))
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, incidents.WithClock(func() time.Time { return now }))
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return svc, env
}

// TestBudgetResumes: a rare match with a one-request budget returns early
// with a cursor, and following the cursors finds exactly what one unbounded
// listing finds.
func TestBudgetResumes(t *testing.T) {
	svc, _ := newService(t)
	tight, _ := newService(t, incidents.WithBudget(incidents.Budget{Requests: 1, Time: time.Minute}))
	req := incidents.ListRequest{Instance: "eset", Where: `incident.title.icontains("lsass")`, PageSize: 100}
	full, err := svc.List(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if full.HasMore || len(full.Incidents) == 0 {
		t.Fatalf("unbounded listing: %d incidents, has_more %v", len(full.Incidents), full.HasMore)
	}
	var got []string
	budgetHit := false
	req.PageSize = 20
	for range 100 {
		res, err := tight.List(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		budgetHit = budgetHit || res.Scan.BudgetReached
		for _, inc := range res.Incidents {
			got = append(got, inc.ID)
		}
		if !res.HasMore {
			break
		}
		req.Cursor = res.NextCursor
	}
	if !budgetHit {
		t.Error("the budget was never reached")
	}
	if len(got) != len(full.Incidents) {
		t.Fatalf("resumed listing found %d, unbounded %d", len(got), len(full.Incidents))
	}
	for i, inc := range full.Incidents {
		if got[i] != inc.ID {
			t.Fatalf("incident %d: %s, want %s", i, got[i], inc.ID)
		}
	}
}

func TestVendorFailures(t *testing.T) {
	svc, env := newService(t)
	for _, tc := range []struct {
		status int
		code   schema.Code
	}{
		{500, schema.CodeUnavailable},
		{403, schema.CodePermissionDenied},
		{429, schema.CodeRateLimited},
	} {
		env.ESET.FailNext(tc.status, 10)
		_, err := svc.List(t.Context(), incidents.ListRequest{Instance: "eset"})
		env.ESET.FailNext(tc.status, 0)
		if schema.CodeOf(err) != tc.code {
			t.Errorf("vendor %d: %v (code %s), want %s", tc.status, err, schema.CodeOf(err), tc.code)
		}
	}
}

func TestExplainAndSkip(t *testing.T) {
	svc, env := newService(t)
	before := env.ESET.Stats().Requests
	res, err := svc.List(t.Context(), incidents.ListRequest{Instance: "eset", Filter: schema.Filter{MinSeverity: "high", CreatedAfter: "3d"}, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	if env.ESET.Stats().Requests != before {
		t.Error("explain called the vendor")
	}
	if !res.Query.Filter.CreatedAfter.Equal(now.Add(-72 * time.Hour)) {
		t.Errorf("window starts %v, want %v", res.Query.Filter.CreatedAfter, now.Add(-72*time.Hour))
	}
	res, err = svc.List(t.Context(), incidents.ListRequest{Instance: "eset", Filter: schema.Filter{Severity: []string{"critical"}}})
	if err != nil {
		t.Fatal(err)
	}
	if env.ESET.Stats().Requests != before || len(res.Incidents) != 0 || res.Total == nil || *res.Total != 0 {
		t.Errorf("critical on ESET (which has none) should answer 0 without a call: %+v", res)
	}
}

// TestCursorKeepsItsWindow: relative times resolve once; later pages use
// the first call's "now" even when the clock moved.
func TestCursorKeepsItsWindow(t *testing.T) {
	clock := now
	env, err := demo.Start(demo.Options{Seed: 5, Incidents: 200, Now: now, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	sealer, _ := incidents.NewSealer([]byte(strings.Repeat("z", 32)))
	svc, _ := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler), incidents.WithClock(func() time.Time { return clock }))
	req := incidents.ListRequest{Instance: "eset", Filter: schema.Filter{CreatedAfter: "10d"}, PageSize: 3}
	first, err := svc.List(t.Context(), req)
	if err != nil || !first.HasMore {
		t.Fatal(err, first.HasMore)
	}
	clock = clock.Add(48 * time.Hour)
	req.Cursor = first.NextCursor
	second, err := svc.List(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Query.Now.Equal(first.Query.Now) || !second.Query.Filter.CreatedAfter.Equal(first.Query.Filter.CreatedAfter) {
		t.Errorf("second page resolved against %v, first against %v", second.Query.Now, first.Query.Now)
	}
}
