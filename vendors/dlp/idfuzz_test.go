package dlp_test

import (
	"net/http"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// FuzzIDRoutes: whatever the id, Get and Update send only the list (the
// id in its body) and PATCH /incidents/{id} with the id as one segment; an
// id off DLP's shape sends nothing and is not_found naming id.
func FuzzIDRoutes(f *testing.F) {
	c, valid := idFuzz(f)
	drivertest.FuzzIDs(f, c, valid)
}

// TestIDRoutes checks the seeds and 3,000 random ids on every run.
func TestIDRoutes(t *testing.T) {
	c, valid := idFuzz(t)
	drivertest.TestIDs(t, c, valid, 3000)
}

func idFuzz(f testing.TB) (*drivertest.IDFuzz, string) {
	sim := dlpsim.New(dlpsim.Config{Seed: 7, Incidents: 20, Now: simNow, RateLimit: noLimit})
	log := drivertest.NewRouteLog(sim)
	assignee := "analyst@example.com"
	c := &drivertest.IDFuzz{
		Driver: newDriver(f, log, dlp.Config{RateLimit: noLimit}), Log: log,
		Valid: func(s string) bool { return wire.IsToken(s, 128) },
		Routes: []drivertest.Route{
			{Method: http.MethodPost, Path: "/v2/incidents/list"},
			{Method: http.MethodPatch, Path: "/v2/incidents/{id}"},
		},
		Aside: []string{"/v2/auth/token/access"},
		Patch: schema.Patch{Assignee: &assignee},
	}
	return c, sim.Incidents()[0].ID
}
