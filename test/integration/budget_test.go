// Package integration tests the incidents service over real drivers and
// their simulators, where a behaviour lives between the two: budgets over a
// vendor's rate limit, reads of records a list leaves out, and a vendor that
// never finishes an asynchronous answer. The service's own tests run on
// vendors/memdriver.
package integration_test

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// esetService serves one ESET simulator with its real rate limit (10
// requests per second) behind a service with budget b.
func esetService(t *testing.T, incs int, b incidents.Budget) (*incidents.Service, *esetsim.Server) {
	t.Helper()
	sim := esetsim.New(esetsim.Config{Seed: 9, Incidents: incs, Now: now})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("b", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incidents.New([]*incidents.Instance{{Name: "eset", Driver: d}}, sealer, slog.New(slog.DiscardHandler),
		incidents.WithBudget(b), incidents.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return svc, sim
}

// TestDeviceFilterWithinBudget: a filter on devices that ESET cannot apply
// (a `where` on them), whose field ESET's list leaves out, reads every
// candidate in full. Those reads count against the
// budget: each call returns within it with budget_reached and a cursor,
// and following the cursors finds exactly the incidents on the device.
func TestDeviceFilterWithinBudget(t *testing.T) {
	budget := incidents.Budget{Requests: 20, Time: time.Second}
	svc, sim := esetService(t, 40, budget)
	// The device on the most incidents, and those incidents.
	byDevice := map[string][]string{}
	for _, inc := range sim.Incidents() {
		for _, dev := range inc.DeviceUUIDs {
			byDevice[dev] = append(byDevice[dev], "eset:"+inc.UUID)
		}
	}
	device := ""
	for dev, ids := range byDevice {
		if len(ids) > len(byDevice[device]) || len(ids) == len(byDevice[device]) && dev < device {
			device = dev
		}
	}
	want := byDevice[device]
	slices.Sort(want)

	req := incidents.QueryRequest{Instances: []string{"eset"}, Where: `incident.devices.exists(d, d.id == "` + device + `")`, PageSize: 100}
	var got []string
	calls, stops := 0, 0
	for ; calls < 30; calls++ {
		start := time.Now()
		res, err := svc.Query(t.Context(), req)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("call %d: %v", calls, err)
		}
		// The bound: the budget plus 2 s (the service's answer
		// margin is 1 s of that).
		if took > budget.Time+2*time.Second {
			t.Errorf("call %d took %v; the budget is %v", calls, took, budget.Time)
		}
		if res.Scan.Requests > budget.Requests {
			t.Errorf("call %d made %d upstream requests; the budget is %d", calls, res.Scan.Requests, budget.Requests)
		}
		if res.Scan.BudgetReached {
			stops++
			if res.NextCursor == "" {
				t.Fatalf("call %d reached the budget without a cursor", calls)
			}
		}
		for _, inc := range res.Incidents {
			got = append(got, inc.ID)
		}
		if !res.HasMore {
			break
		}
		req.Cursor = res.NextCursor
	}
	slices.Sort(got)
	t.Logf("device %s: %d incidents in %d calls, %d stopped by the budget; %d requests upstream", device, len(got), calls+1, stops, sim.Stats().Requests)
	if stops == 0 {
		t.Error("no call reached the budget; the test proves nothing")
	}
	if !slices.Equal(got, want) {
		t.Errorf("found %v, want %v", got, want)
	}
}

// TestPendingForeverTimesOut: a vendor that never finishes a 202 gives a
// clear deadline_exceeded error within the budget, for lists and gets.
func TestPendingForeverTimesOut(t *testing.T) {
	budget := incidents.Budget{Requests: 20, Time: 1500 * time.Millisecond}
	svc, sim := esetService(t, 10, budget)
	id := "eset:" + sim.Incidents()[0].UUID
	sim.SetAsync(esetsim.Forever)
	for name, call := range map[string]func() error{
		"list": func() error {
			_, err := svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{"eset"}})
			return err
		},
		"get": func() error { _, err := svc.Get(t.Context(), id, false); return err },
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if schema.CodeOf(err) != schema.CodeDeadlineExceeded || !strings.Contains(err.Error(), "did not answer within this call's time budget") ||
				!strings.Contains(err.Error(), "still preparing the answer") {
				t.Fatalf("error %v (code %s), want deadline_exceeded naming the pending answer", err, schema.CodeOf(err))
			}
			if took > budget.Time+2*time.Second {
				t.Errorf("took %v; the budget is %v", took, budget.Time)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
}
