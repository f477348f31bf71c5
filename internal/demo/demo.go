// Package demo runs the vendor simulators on loopback and points real
// drivers at them: the --demo mode of the command, and the fixture of the
// tool, equivalence and end-to-end tests and of the benchmarks.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
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
	Build []registry.BuildOption
	// Wrap, when set, stands in front of each simulator (by vendor key):
	// a slow or failing upstream for tests.
	Wrap func(vendor string, h http.Handler) http.Handler
}

// Env is a running set of simulators with a driver instance for each.
type Env struct {
	Instances []*incidents.Instance
	ESET      *esetsim.Server
	Kaspersky *kasperskysim.Server
	DLP       *dlpsim.Server
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
	e := &Env{URLs: map[string]string{}, Now: o.Now}
	ecfg := esetsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now}
	if o.Unlimited {
		ecfg.RateLimit = -1
	}
	e.ESET = esetsim.New(ecfg)
	e.Kaspersky = kasperskysim.New(kasperskysim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now})
	dcfg := dlpsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now}
	if o.Unlimited {
		dcfg.RateLimit, dcfg.MaxConcurrent = 1_000_000, 1000
	}
	e.DLP = dlpsim.New(dcfg)
	for _, sim := range []struct {
		name string
		h    http.Handler
	}{{"eset", e.ESET}, {"kaspersky", e.Kaspersky}, {"dlp", e.DLP}} {
		h := sim.h
		if o.Wrap != nil {
			h = o.Wrap(sim.name, h)
		}
		if _, err := e.serve(sim.name, h, o.Logger); err != nil {
			return nil, err
		}
	}
	e.Config = e.config(o.Unlimited)
	f, err := config.Parse([]byte(e.Config), config.Source{Path: "demo", Mode: 0o600}, registry.Vendors)
	if err == nil {
		e.Instances, err = registry.Build(f, o.Logger, o.Build...)
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

// config is the demo as a configuration file: one instance per vendor, each
// pointed at its simulator with the simulator's own credentials.
func (e *Env) config(unlimited bool) string {
	var esetRate, dlpRate string
	if unlimited {
		esetRate = "\n    rate_limit: {requests: 10000, per: 1s}"
		dlpRate = "\n    rate_limit: {requests: 1000000, per: 1m, concurrent: 1000}"
	}
	return fmt.Sprintf(`# the --demo configuration: vendor simulators on loopback
instances:
  - name: eset
    vendor: eset
    api_url: %[1]s
    token_url: %[1]s/oauth/token
    username: demo
    password: demo%[2]s
  - name: kaspersky
    vendor: kaspersky
    url: %[3]s
    token: %[4]q
  - name: dlp
    vendor: dlp
    url: %[5]s
    api_key: %[6]q%[7]s
`, e.URLs["eset"], esetRate, e.URLs["kaspersky"], kasperskysim.DefaultToken, e.URLs["dlp"], dlpsim.DefaultAPIKey, dlpRate)
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
