package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// Demo dataset: fixed seed so the demo shows the same incidents every run,
// dated relative to the start so "last 3 days" finds some.
const (
	demoSeed      = 20261120
	demoIncidents = 500
)

type demo struct {
	instances []*incidents.Instance
	servers   []*http.Server
}

// startDemo serves each vendor simulator on a loopback port and points a real
// driver at it.
func startDemo(ctx context.Context, log *slog.Logger) (*demo, error) {
	d := &demo{}
	now := time.Now().UTC().Truncate(time.Second)
	esetURL, err := d.serve(esetsim.New(esetsim.Config{Seed: demoSeed, Incidents: demoIncidents, Now: now}))
	if err != nil {
		return nil, err
	}
	ed, err := eset.New(eset.Config{APIURL: esetURL, TokenURL: esetURL + "/oauth/token", Username: "demo", Password: "demo", Logger: log.With("instance", "eset")})
	if err != nil {
		d.Close()
		return nil, err
	}
	d.instances = append(d.instances, &incidents.Instance{Name: "eset", Driver: ed})
	log.Info("demo: simulators serving on loopback", "eset", esetURL)
	return d, nil
}

func (d *demo) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener closed with the process
		}
	}()
	d.servers = append(d.servers, srv)
	return "http://" + ln.Addr().String(), nil
}

func (d *demo) Close() {
	for _, s := range d.servers {
		s.Close()
	}
}
