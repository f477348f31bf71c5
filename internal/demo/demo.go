// Package demo is the --demo mode of the command: every registered
// vendor's simulator on loopback, real drivers pointed at them, and
// optionally a state directory that keeps the demo between runs. It names
// no vendor: it loops over vendors/registry. Tests that want typed handles
// on the simulators use internal/demotest, built on this package.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// Defaults of the demo dataset: a fixed seed so the demo shows the same
// incidents every run, dated from an anchor (the start of the UTC day, or
// the one kept in the state directory) so "last 3 days" finds some and a
// restart serves the very same records.
const (
	DefaultSeed      = 20261120
	DefaultIncidents = 500
)

// Options configure an Env.
type Options struct {
	Seed      int64
	Incidents int
	// Now is the simulators' reference time; zero means the anchor kept
	// in StateDir, or else Anchor(time.Now()).
	Now time.Time
	// StateDir, when set, keeps the demo between runs: the dataset's
	// anchor, the key that signs cursors and tokens (Env.Secret) and a
	// journal of the writes made, replayed onto the fresh simulators.
	StateDir string
	// Unlimited lifts the simulators' rate limits (tests, benchmarks).
	Unlimited bool
	Logger    *slog.Logger
	// Build adjusts the drivers (instrumented HTTP clients, observers).
	Build []wiring.Option
	// Wrap, when set, stands in front of each simulator (by vendor key):
	// a slow or failing upstream for tests.
	Wrap func(vendor string, h http.Handler) http.Handler
}

// Env is a running set of simulators with a driver instance for each.
type Env struct {
	Instances []*incidents.Instance
	// Simulators maps a vendor key to its running simulator.
	Simulators map[string]descriptor.Simulator
	// URLs maps an instance name to its simulator's base URL.
	URLs map[string]string
	// Config is the demo as a configuration file (credentials inline: the
	// simulators' own).
	Config string
	// Now is the reference time the datasets are dated from.
	Now time.Time
	// Secret is the state directory's signing key (nil without one).
	Secret []byte
	// Replayed counts the journaled writes applied at start.
	Replayed int
	servers  []*http.Server
}

// Start serves every simulator on a loopback port.
func Start(o Options) (*Env, error) {
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Incidents == 0 {
		o.Incidents = DefaultIncidents
	}
	var st *state
	if o.StateDir != "" {
		var anchor time.Time
		var err error
		if st, anchor, err = openState(o.StateDir, time.Now()); err != nil {
			return nil, err
		}
		if o.Now.IsZero() {
			o.Now = anchor
		}
	}
	if o.Now.IsZero() {
		o.Now = Anchor(time.Now())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Env{URLs: map[string]string{}, Simulators: map[string]descriptor.Simulator{}, Now: o.Now}
	simOpts := descriptor.SimOptions{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now, Unlimited: o.Unlimited}
	for _, v := range registry.All() {
		sim := v.Simulation.New(simOpts)
		e.Simulators[v.Key()] = sim
		var h http.Handler = sim
		if o.Wrap != nil {
			h = o.Wrap(v.Key(), h)
		}
		if _, err := e.serve(v.Key(), h, o.Logger); err != nil {
			return nil, err
		}
	}
	e.Config = e.config(o.Unlimited)
	f, err := config.Parse([]byte(e.Config), settings.Source{Path: "demo", Mode: 0o600}, registry.Settings())
	if err == nil {
		e.Instances, err = wiring.Build(f, o.Logger, o.Build...)
	}
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	if st != nil {
		if e.Secret, err = st.secret(); err == nil {
			e.Replayed, err = st.replay(context.Background(), e.Instances)
		}
		if err != nil {
			e.Close()
			return nil, err
		}
		st.journal(e.Instances)
	}
	return e, nil
}

// config is the demo as a configuration file: one instance per vendor,
// named by its key, each pointed at its simulator with the simulator's own
// credentials.
func (e *Env) config(unlimited bool) string {
	var b strings.Builder
	b.WriteString("# the --demo configuration: vendor simulators on loopback\ninstances:\n")
	for _, v := range registry.All() {
		fmt.Fprintf(&b, "  - name: %[1]s\n    vendor: %[1]s\n", v.Key())
		for line := range strings.Lines(v.Simulation.Instance(e.URLs[v.Key()], unlimited)) {
			b.WriteString("    " + line)
		}
	}
	return b.String()
}

func (e *Env) serve(name string, h http.Handler, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.Close()
		return "", fmt.Errorf("demo %s simulator: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo simulator stopped", "vendor", name, "err", err)
		}
	}()
	e.servers = append(e.servers, srv)
	e.URLs[name] = "http://" + ln.Addr().String()
	return e.URLs[name], nil
}

// Close stops every simulator.
func (e *Env) Close() {
	for _, s := range e.servers {
		s.Close()
	}
}
