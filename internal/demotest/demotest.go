// Package demotest is the demo as a test fixture: the --demo mode's
// simulators and real drivers (internal/demo), with typed handles on the
// ESET, Kaspersky and Cyberhaven simulators for the tool, equivalence and
// end-to-end tests and the benchmarks that read a vendor's own records.
package demotest

import (
	"fmt"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

// Options configure the fixture, as they do the demo.
type Options = demo.Options

// Env is a running demo with the three vendors' simulators at hand.
type Env struct {
	*demo.Env
	ESET      *esetsim.Server
	Kaspersky *kasperskysim.Server
	DLP       *dlpsim.Server
}

// Start starts the demo; Close it when done.
func Start(o Options) (*Env, error) {
	d, err := demo.Start(o)
	if err != nil {
		return nil, err
	}
	es, ok1 := d.Simulators[eset.Vendor].(eset.Simulator)
	ks, ok2 := d.Simulators[kaspersky.Vendor].(kaspersky.Simulator)
	ds, ok3 := d.Simulators[dlp.Vendor].(dlp.Simulator)
	if !ok1 || !ok2 || !ok3 {
		d.Close()
		return nil, fmt.Errorf("demotest: the demo runs no ESET, Kaspersky or Cyberhaven simulator to hand out (%d simulators)", len(d.Simulators))
	}
	return &Env{Env: d, ESET: es.Server, Kaspersky: ks.Server, DLP: ds.Server}, nil
}
