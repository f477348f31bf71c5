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
	for _, s := range drivertest.IDSeeds(sim.Incidents()[0].UUID) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) { c.CheckID(t, id) })
}
