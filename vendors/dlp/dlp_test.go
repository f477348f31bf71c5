package dlp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
)

var simNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// noLimit is a rate limit, on both sides, high enough not to slow a suite.
const noLimit = 1_000_000

type harness struct{}

type backend struct {
	*dlpsim.Server
	rec *drivertest.WriteRecorder
}

func (b backend) Recorder() drivertest.Writes { return b.rec }
func (backend) Assignee() string              { return "analyst@example.com" }

// isWrite tells DLP's one write call, the PATCH.
func isWrite(r *http.Request) bool { return r.Method == http.MethodPatch }

// MissingID is well formed (incident-<7 digits>) but below every generated id.
func (backend) MissingID() string { return "incident-0000001" }

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	sim := dlpsim.New(dlpsim.Config{Seed: 7, Incidents: 300, Now: simNow, RateLimit: noLimit})
	rec := drivertest.NewWriteRecorder(sim, isWrite)
	return newDriver(t, rec, dlp.Config{RateLimit: noLimit}), backend{sim, rec}
}

// newDriver serves h and points a driver at it; cfg fills in the rest.
func newDriver(t testing.TB, h http.Handler, cfg dlp.Config) *dlp.Driver {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	if cfg.APIKey == "" {
		cfg.APIKey = dlpsim.DefaultAPIKey
	}
	d, err := dlp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dlp.Config
		want string
	}{
		{"no key", dlp.Config{BaseURL: "https://t.cyberhaven.io"}, "API key"},
		{"no URL", dlp.Config{APIKey: "k"}, "base URL"},
		{"not http", dlp.Config{BaseURL: "t.cyberhaven.io", APIKey: "k"}, "http(s) URL"},
		{"negative limit", dlp.Config{BaseURL: "https://t.cyberhaven.io", APIKey: "k", RateLimit: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dlp.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestAgainstSimulator(t *testing.T) {
	sim := dlpsim.New(dlpsim.Config{Seed: 3, Incidents: 120, Now: simNow, PathPrefix: "/public/v2", RateLimit: noLimit})
	d := newDriver(t, sim, dlp.Config{PathPrefix: "/public/v2/", RateLimit: noLimit})
	want := sim.Incidents()
	plan, err := d.Plan(driver.Query{Criteria: schema.Criteria{Statuses: []schema.Status{schema.StatusInProgress}}, Order: schema.DefaultOrder, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		page, err := d.List(t.Context(), plan, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, inc := range want {
			if inc.Status == "investigating" {
				n++
			}
		}
		if !page.TotalKnown || page.Total != n || len(page.Incidents) != n {
			t.Errorf("total %d (known %v), %d listed, want %d", page.Total, page.TotalKnown, len(page.Incidents), n)
		}
		for _, inc := range page.Incidents {
			if inc.Status != schema.StatusInProgress || inc.VendorStatus != "investigating" || inc.Details != nil {
				t.Fatalf("listed %+v", inc)
			}
		}
	})

	t.Run("token expiry re-exchanges once", func(t *testing.T) {
		before := sim.Stats().TokenRequests
		sim.ExpireTokens()
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
		if got := sim.Stats().TokenRequests - before; got != 1 {
			t.Errorf("%d token exchanges after expiry, want 1", got)
		}
	})

	t.Run("partial error is a warning", func(t *testing.T) {
		sim.SetPartialError("index shard 3 unavailable")
		page, err := d.List(t.Context(), plan, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Warnings) != 1 || !strings.Contains(page.Warnings[0], "index shard 3 unavailable") || len(page.Incidents) == 0 {
			t.Errorf("warnings %q with %d incidents", page.Warnings, len(page.Incidents))
		}
	})

	t.Run("get with details", func(t *testing.T) {
		w := want[len(want)/2]
		got, err := d.Get(t.Context(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != w.ID || got.Policy == nil || got.Policy.ID != w.PolicyID || got.Devices[0].ID != w.EndpointID ||
			got.Users[0].Name != w.UserName || got.Details["file_path"] != w.Details["file_path"] ||
			got.Details["risk_score"] != w.Details["risk_score"] || !strings.Contains(string(got.Raw), `"details"`) {
			t.Errorf("Get = %+v\nvendor record %+v", got, w)
		}
	})

	t.Run("403 names the permission", func(t *testing.T) {
		sim.DenyReads(true)
		defer sim.DenyReads(false)
		_, err := d.List(t.Context(), plan, "")
		if d.ErrorCode(err) != schema.CodePermissionDenied || !strings.Contains(err.Error(), "incident__read") {
			t.Errorf("List = %v (code %s)", err, d.ErrorCode(err))
		}
	})

	t.Run("update", func(t *testing.T) {
		target := want[0].ID
		for _, inc := range want {
			if inc.Status == "open" {
				target = inc.ID
				break
			}
		}
		ptr := func(s string) *string { return &s }
		closed, tp := schema.StatusClosed, schema.ResolutionTruePositive
		res, err := d.Update(t.Context(), target, schema.Patch{Status: &closed, Resolution: &tp, Comment: ptr("confirmed"), Assignee: ptr("alice.nguyen@company.com")})
		if err != nil {
			t.Fatal(err)
		}
		inc := res.Incident
		if inc == nil || inc.Status != schema.StatusClosed || inc.Resolution != tp || inc.Assignee.ID != "alice.nguyen@company.com" {
			t.Fatalf("after close: %+v", inc)
		}
		if len(res.Steps) != 1 || !res.Steps[0].OK || !strings.HasPrefix(res.Steps[0].Call, "PATCH /public/v2/incidents/"+target) {
			t.Errorf("steps %+v", res.Steps)
		}
		got, err := d.Get(t.Context(), target)
		if err != nil || got.Details["close_note"] != "confirmed" || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("re-read %+v, %v", got, err)
		}

		open := schema.StatusOpen
		if res, err := d.Update(t.Context(), target, schema.Patch{Status: &open}); err != nil || res.Incident.Status != schema.StatusOpen || res.Incident.Resolution != "" {
			t.Errorf("reopen: %+v, %v", res, err)
		}

		// A note on an open incident: the vendor refuses, and says why.
		_, err = d.Update(t.Context(), target, schema.Patch{Comment: ptr("x")})
		if d.ErrorCode(err) != schema.CodeInvalidArgument || !strings.Contains(err.Error(), "only allowed when closing") {
			t.Errorf("note on an open incident: %v (code %s)", err, d.ErrorCode(err))
		}

		sim.DenyUpdates(true)
		res, err = d.Update(t.Context(), target, schema.Patch{Status: &open})
		sim.DenyUpdates(false)
		if d.ErrorCode(err) != schema.CodePermissionDenied || !strings.Contains(err.Error(), "incident__update") || res == nil || res.Steps[0].OK {
			t.Errorf("denied update: %v (code %s), %+v", err, d.ErrorCode(err), res)
		}

		before := sim.Stats().Requests
		sev := schema.SeverityLow
		_, err = d.Update(t.Context(), target, schema.Patch{Severity: &sev, Status: &open})
		if d.ErrorCode(err) != schema.CodeUnsupported || sim.Stats().Requests != before {
			t.Errorf("severity change: %v (code %s), %d requests sent", err, d.ErrorCode(err), sim.Stats().Requests-before)
		}
		if _, err := d.Update(t.Context(), "incident-0000001", schema.Patch{Status: &open}); d.ErrorCode(err) != schema.CodeNotFound {
			t.Errorf("update of a missing incident: %v (code %s)", err, d.ErrorCode(err))
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		bad := newDriver(t, sim, dlp.Config{PathPrefix: "/public/v2", APIKey: "wrong", RateLimit: noLimit})
		_, err := bad.List(t.Context(), plan, "")
		if bad.ErrorCode(err) != schema.CodeUnauthenticated || !strings.Contains(err.Error(), "API key") {
			t.Errorf("wrong key: %v (code %s)", err, bad.ErrorCode(err))
		}
	})
}

// TestRateLimits is the test: 200 list calls from 20 goroutines at
// one instance, the vendor's limits shrunk the same way on both sides. In
// the first case the rate is what binds, in the second the concurrency.
func TestRateLimits(t *testing.T) {
	const (
		concurrent = 5
		calls      = 200
		goroutines = 20
	)
	for _, tc := range []struct {
		name        string
		limit       int
		window      time.Duration
		latency     time.Duration
		least, most time.Duration // bounds on the whole run
	}{
		// 201 requests at 20 per window cannot take less than 10 windows;
		// many more would mean the client throttles harder than it must.
		{"rate binds", 20, 200 * time.Millisecond, 5 * time.Millisecond, 2 * time.Second, 5 * time.Second},
		// 5 at once for 20 ms each: at least 40 rounds of 20 ms.
		{"concurrency binds", 5000, 200 * time.Millisecond, 20 * time.Millisecond, 800 * time.Millisecond, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := dlpsim.New(dlpsim.Config{Seed: 5, Incidents: 200, Now: simNow, RateLimit: tc.limit, RateWindow: tc.window, MaxConcurrent: concurrent, Latency: tc.latency})
			d := newDriver(t, sim, dlp.Config{RateLimit: tc.limit, RateWindow: tc.window, MaxConcurrent: concurrent})
			plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, calls)
			for range goroutines {
				wg.Go(func() {
					for range calls / goroutines {
						if _, err := d.List(ctx, plan, ""); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			elapsed := time.Since(start)
			for err := range errs {
				t.Errorf("a call failed: %v (code %s)", err, d.ErrorCode(err))
			}
			st := sim.Stats()
			t.Logf("%d requests (%d token) in %v: max %d at once, max %d in a window, %d answered 429",
				st.Requests, st.TokenRequests, elapsed.Round(time.Millisecond), st.MaxConcurrentAttempted, st.MaxAttemptsInWindow, st.TooMany)
			if st.Requests != calls+1 || st.TokenRequests != 1 {
				t.Errorf("the simulator saw %d requests (%d token), want %d lists and one token exchange", st.Requests, st.TokenRequests, calls)
			}
			if st.MaxConcurrentAttempted > concurrent {
				t.Errorf("%d requests at once, the limit is %d", st.MaxConcurrentAttempted, concurrent)
			}
			if st.MaxAttemptsInWindow > tc.limit {
				t.Errorf("%d requests in one window, the limit is %d", st.MaxAttemptsInWindow, tc.limit)
			}
			if st.TooMany != 0 {
				t.Errorf("the simulator answered 429 %d times: the client's schedule let too many through", st.TooMany)
			}
			if elapsed < tc.least || elapsed > tc.most {
				t.Errorf("took %v, want between %v and %v", elapsed, tc.least, tc.most)
			}
		})
	}
}

// TestRateLimitedPastDeadline: a wait the deadline cannot accommodate fails
// at once with a rate_limited error that says when to come back.
func TestRateLimitedPastDeadline(t *testing.T) {
	t.Run("429 from the vendor", func(t *testing.T) {
		sim := dlpsim.New(dlpsim.Config{Seed: 1, Incidents: 10, Now: simNow, RateLimit: noLimit})
		d := newDriver(t, sim, dlp.Config{RateLimit: noLimit})
		plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
		if _, err := d.List(t.Context(), plan, ""); err != nil { // sign in first
			t.Fatal(err)
		}
		sim.FailNext(http.StatusTooManyRequests, 1) // resets a second or two from now
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := d.List(ctx, plan, "")
		checkRateLimited(t, d, err, time.Since(start))
	})
	t.Run("429 with time to wait is waited out", func(t *testing.T) {
		sim := dlpsim.New(dlpsim.Config{Seed: 1, Incidents: 10, Now: simNow, RateLimit: noLimit})
		d := newDriver(t, sim, dlp.Config{RateLimit: noLimit})
		plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
		sim.FailNext(http.StatusTooManyRequests, 1)
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Errorf("a 429 with time to wait: %v", err)
		}
		if st := sim.Stats(); st.TooMany != 1 || st.ByPath["/v2/incidents/list"] != 2 {
			t.Errorf("stats %+v, want the injected 429 and one retry", st)
		}
	})
	t.Run("the client's own schedule", func(t *testing.T) {
		sim := dlpsim.New(dlpsim.Config{Seed: 1, Incidents: 10, Now: simNow, RateLimit: noLimit})
		// One request per hour: the token exchange takes it.
		d := newDriver(t, sim, dlp.Config{RateLimit: 1, RateWindow: time.Hour})
		plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := d.List(ctx, plan, "")
		checkRateLimited(t, d, err, time.Since(start))
		if st := sim.Stats(); st.Requests != 1 {
			t.Errorf("%d requests sent, want only the token exchange", st.Requests)
		}
	})
}

func checkRateLimited(t *testing.T, d *dlp.Driver, err error, took time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded")
	}
	if d.ErrorCode(err) != schema.CodeRateLimited || !strings.Contains(err.Error(), "rate limited, retry after ") {
		t.Errorf("error %v (code %s), want rate_limited saying when to retry", err, d.ErrorCode(err))
	}
	if he, ok := errors.AsType[*driver.HTTPError](err); !ok || he.RetryAfter <= 0 {
		t.Errorf("error %#v carries no RetryAfter", err)
	}
	if took > 100*time.Millisecond {
		t.Errorf("took %v to fail; it must fail at once", took)
	}
}
