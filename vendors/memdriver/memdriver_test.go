package memdriver_test

import (
	"testing"
	"time"

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

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	d := memdriver.New(memdriver.Config{Incidents: memdriver.Generate(7, 300, now)})
	return d, backend{d}
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}
