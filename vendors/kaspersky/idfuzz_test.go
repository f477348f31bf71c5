package kaspersky_test

import (
	"net/http"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

// FuzzIDRoutes: whatever the id, Get and Update send only the incidents
// list (id= exactly the id) and the close call; an id that is not a UUID
// sends nothing and is not_found naming id.
func FuzzIDRoutes(f *testing.F) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 7, Incidents: 20, Now: simNow})
	log := drivertest.NewRouteLog(sim)
	closed, reason := schema.StatusClosed, schema.ResolutionFalsePositive
	c := &drivertest.IDFuzz{
		Driver: newSimDriver(f, log, kaspersky.Config{}), Log: log, Valid: wire.IsUUID,
		Routes: []drivertest.Route{
			{Method: http.MethodGet, Path: kasperskysim.PathIncidents},
			{Method: http.MethodPost, Path: kasperskysim.PathClose},
		},
		Aside: []string{kasperskysim.PathTenants},
		Patch: schema.Patch{Status: &closed, Resolution: &reason},
	}
	for _, s := range drivertest.IDSeeds(sim.Incidents()[0].InternalID) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) { c.CheckID(t, id) })
}
