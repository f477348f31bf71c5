package eset_test

import (
	"net/http"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// FuzzIDRoutes: whatever the id, Get and Update send only ESET's routes
// with the id as one {uuid} segment; an id that is not a UUID sends
// nothing and is not_found naming id.
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
	sim := esetsim.New(esetsim.Config{Seed: 7, Incidents: 20, Now: simNow, RateLimit: -1})
	log := drivertest.NewRouteLog(sim)
	comment := "checked"
	c := &drivertest.IDFuzz{
		Driver: newDriver(f, log, nil), Log: log, Valid: wire.IsUUID,
		Routes: []drivertest.Route{
			{Method: http.MethodGet, Path: "/v2/incidents/{id}"},
			{Method: http.MethodPost, Path: "/v2/incidents/{id}/comments"},
		},
		Aside: []string{"/oauth/token"},
		Patch: schema.Patch{Comment: &comment},
	}
	return c, sim.Incidents()[0].UUID
}
