// Package demo runs the vendor simulators on loopback and points real
// drivers at them: the --demo mode of the command, and the fixture of the
// tool, equivalence and end-to-end tests and of the benchmarks.
package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

// Defaults of the demo dataset: a fixed seed so the demo shows the same
// incidents every run, dated relative to the start so "last 3 days" finds
// some.
const (
	DefaultSeed      = 20261120
	DefaultIncidents = 500
)

// Options configure an Env.
type Options struct {
	Seed      int64
	Incidents int
	// Now is the simulators' reference time; zero means the current time.
	Now time.Time
	// Unlimited lifts the simulators' rate limits (tests, benchmarks).
	Unlimited bool
	Logger    *slog.Logger
}

// Env is a running set of simulators with a driver instance for each.
type Env struct {
	Instances []*incidents.Instance
	ESET      *esetsim.Server
	Kaspersky *kasperskysim.Server
	DLP       *dlpsim.Server
	// URLs maps an instance name to its simulator's base URL.
	URLs    map[string]string
	servers []*http.Server
}

// Start serves every simulator on a loopback port.
func Start(o Options) (*Env, error) {
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Incidents == 0 {
		o.Incidents = DefaultIncidents
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC().Truncate(time.Second)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Env{URLs: map[string]string{}}
	rate := 0
	if o.Unlimited {
		rate = -1
	}
	e.ESET = esetsim.New(esetsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now, RateLimit: rate})
	u, err := e.serve("eset", e.ESET, o.Logger)
	if err != nil {
		return nil, err
	}
	cfg := eset.Config{APIURL: u, TokenURL: u + "/oauth/token", Username: "demo", Password: "demo", Logger: o.Logger.With("instance", "eset")}
	if o.Unlimited {
		cfg.RateLimit = 10_000
	}
	ed, err := eset.New(cfg)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Instances = append(e.Instances, &incidents.Instance{Name: "eset", Driver: ed})

	e.Kaspersky = kasperskysim.New(kasperskysim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now})
	if u, err = e.serve("kaspersky", e.Kaspersky, o.Logger); err != nil {
		return nil, err
	}
	kd, err := kaspersky.New(kaspersky.Config{BaseURL: u, Token: kasperskysim.DefaultToken, Logger: o.Logger.With("instance", "kaspersky")})
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Instances = append(e.Instances, &incidents.Instance{Name: "kaspersky", Driver: kd})

	dcfg := dlpsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now}
	dd := dlp.Config{APIKey: dlpsim.DefaultAPIKey, Logger: o.Logger.With("instance", "dlp")}
	if o.Unlimited {
		dcfg.RateLimit, dcfg.MaxConcurrent = 1_000_000, 1000
		dd.RateLimit, dd.MaxConcurrent = 1_000_000, 1000
	}
	e.DLP = dlpsim.New(dcfg)
	if u, err = e.serve("dlp", e.DLP, o.Logger); err != nil {
		return nil, err
	}
	dd.BaseURL = u
	ddrv, err := dlp.New(dd)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.Instances = append(e.Instances, &incidents.Instance{Name: "dlp", Driver: ddrv})
	return e, nil
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
