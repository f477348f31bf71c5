// Package wiring builds the service's instances from a configuration: each
// instance's driver from the settings its vendor's descriptor decoded, its
// budget from the file. It sits above both the vendors and the service, so
// neither imports the other; the command and the demo use it.
package wiring

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
)

// Option adjusts how Build makes drivers.
type Option func(name string, o *descriptor.Options)

// WithObserver lets o see every instance's HTTP layer (metrics).
func WithObserver(o descriptor.Observer) Option {
	return func(_ string, d *descriptor.Options) { d.Observer = o }
}

// WithSharedLimits makes every credential's vendor limits shared by the
// replicas through shared (Redis); without it each driver keeps local ones.
func WithSharedLimits(shared descriptor.SharedLimits) Option {
	return func(_ string, d *descriptor.Options) { d.Shared = shared }
}

// WithHTTPClient gives each instance the HTTP client client returns for
// its name (instrumented for metrics and tracing).
func WithHTTPClient(client func(instance string) *http.Client) Option {
	return func(name string, o *descriptor.Options) { o.HTTPClient = client(name) }
}

// Build makes the service's instances from a configuration.
func Build(f *config.File, log *slog.Logger, opts ...Option) ([]*incidents.Instance, error) {
	out := make([]*incidents.Instance, 0, len(f.Instances))
	for _, in := range f.Instances {
		do := descriptor.Options{Common: descriptor.Common{Logger: log.With("instance", in.Name), Instance: in.Name}}
		for _, opt := range opts {
			opt(in.Name, &do)
		}
		d, err := descriptor.NewDriver(in.Settings, do)
		if err != nil {
			if in.Line > 0 {
				return nil, fmt.Errorf("instance %s (line %d): %w", in.Name, in.Line, err)
			}
			return nil, fmt.Errorf("instance %s: %w", in.Name, err)
		}
		b := in.Budget
		if b.Requests == 0 {
			b.Requests = f.Budget.Requests
		}
		if b.Time == 0 {
			b.Time = f.Budget.Time
		}
		out = append(out, &incidents.Instance{
			Name: in.Name, Driver: d, ReadOnly: in.ReadOnly, RateLimit: in.Settings.RateLimit(),
			Budget: incidents.Budget{Requests: b.Requests, Time: b.Time},
		})
	}
	return out, nil
}
