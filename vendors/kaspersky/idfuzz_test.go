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
	c, valid := idFuzz(f)
	drivertest.FuzzIDs(f, c, valid)
}

// TestIDRoutes checks the seeds and 3,000 random ids on every run.
func TestIDRoutes(t *testing.T) {
	c, valid := idFuzz(t)
	drivertest.TestIDs(t, c, valid, 3000)
}

func idFuzz(f testing.TB) (*drivertest.IDFuzz, string) {
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
	return c, sim.Incidents()[0].InternalID
}
