package registry_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// TestDescriptorsAreWhole: every registered vendor has a unique key and a
// name, and the configuration its simulator describes, read from a file
// and from the environment, builds a driver of that vendor that lists the
// simulator's incidents.
func TestDescriptorsAreWhole(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range registry.All() {
		key := v.Key()
		t.Run(key, func(t *testing.T) {
			if key == "" || v.Name == "" || seen[key] {
				t.Fatalf("key %q, name %q: each vendor needs a unique key and a name", key, v.Name)
			}
			seen[key] = true
			if got, ok := registry.Lookup(key); !ok || got != v {
				t.Fatalf("Lookup(%q) = %v, %v", key, got, ok)
			}
			sim := v.Simulation
			if sim.New == nil || sim.Instance == nil || sim.Env == nil || sim.Route == nil || sim.Port == 0 || v.Settings.EnvHelp == "" {
				t.Fatal("the simulation and the settings must be complete")
			}
			srv := httptest.NewServer(sim.New(descriptor.SimOptions{Seed: 1, Incidents: 5, Now: time.Now(), Unlimited: true}))
			t.Cleanup(srv.Close)

			var body strings.Builder
			body.WriteString("instances:\n  - name: x\n    vendor: " + key + "\n")
			for line := range strings.Lines(sim.Instance(srv.URL, true)) {
				body.WriteString("    " + line)
			}
			f, err := config.Parse([]byte(body.String()), settings.Source{Path: "test", Mode: 0o600}, registry.Settings())
			if err != nil {
				t.Fatalf("the simulator's instance does not load: %v\n%s", err, body.String())
			}
			vars := map[string]string{}
			for _, kv := range sim.Env(srv.URL, true) {
				k, val, _ := strings.Cut(kv, "=")
				vars[k] = val
			}
			fromEnv, err := config.FromEnv(registry.Settings(), func(k string) string { return vars[k] })
			if err != nil || len(fromEnv.Instances) != 1 || fromEnv.Instances[0].Vendor != key {
				t.Fatalf("the simulator's variables configure %+v (%v), want one %s instance", fromEnv, err, key)
			}
			for _, in := range []config.Instance{f.Instances[0], fromEnv.Instances[0]} {
				d, err := descriptor.NewDriver(in.Settings, descriptor.Options{Common: descriptor.Common{Instance: in.Name}})
				if err != nil {
					t.Fatal(err)
				}
				if d.Info().Vendor != key {
					t.Errorf("the driver says vendor %q", d.Info().Vendor)
				}
				plan, err := d.Plan(driverQuery(d.Info().MaxPageSize))
				if err != nil {
					t.Fatal(err)
				}
				page, err := d.List(t.Context(), plan, "")
				if err != nil || len(page.Incidents) == 0 {
					t.Errorf("list through the simulator: %d incidents, %v", len(page.Incidents), err)
				}
				if len(in.Settings.Summary()) == 0 || in.Settings.RateLimit() == "" {
					t.Error("settings without a summary or rate limit")
				}
			}
			if len(sim.New(descriptor.SimOptions{Seed: 1, Incidents: 5, Now: time.Now()}).Facts()) == 0 {
				t.Error("the simulator's dataset has no facts")
			}
		})
	}
}

// TestNewDriverRefusesForeignSettings: settings that build no driver are
// an error, not a panic.
func TestNewDriverRefusesForeignSettings(t *testing.T) {
	if _, err := descriptor.NewDriver(foreign{}, descriptor.Options{}); err == nil {
		t.Fatal("settings of no vendor built a driver")
	}
}

type foreign struct{}

func (foreign) Summary() []string { return nil }
func (foreign) RateLimit() string { return "" }

func driverQuery(size int) driver.Query {
	return driver.Query{Order: schema.DefaultOrder, PageSize: min(size, 20)}
}
