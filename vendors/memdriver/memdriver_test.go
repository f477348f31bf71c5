package memdriver_test

import (
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type harness struct{}

// backend is the driver itself: it holds the data and injects the faults.
type backend struct{ *memdriver.Driver }

func (b backend) Recorder() drivertest.Writes { return b.Driver }
func (backend) Assignee() string              { return "user-3" }
func (backend) MissingID() string             { return "inc-9999" }

// ownResolution is a resolution of the vendor's own, which some closed
// records carry, so the suite sees a declared verbatim value.
const ownResolution schema.Resolution = "benign_by_policy"

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	incs := memdriver.Generate(7, 300, now)
	for i := range incs {
		if incs[i].Status == schema.StatusClosed && i%3 == 0 {
			incs[i].Resolution = ownResolution
		}
	}
	d := memdriver.New(memdriver.Config{Incidents: incs, Resolutions: []schema.Resolution{ownResolution}})
	return d, backend{d}
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}
