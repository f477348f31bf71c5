//go:build examplevendor

package examplevendor_test

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/examplevendor"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

type harness struct{}

type backend struct {
	*examplevendor.Simulator
	rec *drivertest.WriteRecorder
}

func (b backend) Recorder() drivertest.Writes { return b.rec }
func (backend) Assignee() string              { return "" }
func (backend) MissingID() string             { return "ex-99999" }

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	sim := examplevendor.NewSimulator(descriptor.SimOptions{Seed: 7, Incidents: 300, Now: time.Now()})
	rec := drivertest.NewWriteRecorder(sim, func(r *http.Request) bool { return r.Method == http.MethodPost })
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	d, err := examplevendor.New(examplevendor.Config{BaseURL: srv.URL, APIKey: examplevendor.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	return d, backend{sim, rec}
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}

// TestRegistered: the one registry line makes the vendor known by its key.
func TestRegistered(t *testing.T) {
	v, ok := registry.Lookup(examplevendor.Vendor)
	if !ok || v != &examplevendor.Descriptor {
		t.Fatalf("registry.Lookup(%q) = %v, %v", examplevendor.Vendor, v, ok)
	}
}

// TestAppearsInTheDemo: --demo serves the example simulator and builds its
// instance, which lists the simulator's incidents.
func TestAppearsInTheDemo(t *testing.T) {
	env, err := demo.Start(demo.Options{Incidents: 20, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	if _, ok := env.Simulators[examplevendor.Vendor]; !ok || env.URLs[examplevendor.Vendor] == "" {
		t.Fatalf("the demo runs no example simulator: %v", env.URLs)
	}
	if !strings.Contains(env.Config, "vendor: "+examplevendor.Vendor+"\n") {
		t.Errorf("the demo configuration has no example instance:\n%s", env.Config)
	}
	i := slices.IndexFunc(env.Instances, func(in *incidents.Instance) bool { return in.Name == examplevendor.Vendor })
	if i < 0 {
		t.Fatal("the demo built no example instance")
	}
	all, err := drivertest.Dataset(t.Context(), env.Instances[i].Driver, examplevendor.Vendor)
	if err != nil || len(all) != 20 {
		t.Fatalf("the demo's example instance lists %d incidents (%v), want 20", len(all), err)
	}
	// describe_instances lists every registered vendor's instance:
	// test/registry checks that for the whole registry, and runs with
	// this tag too.
}

// TestAppearsInIncidentSim: incident-sim built with the tag serves the
// example simulator, reports its stats and prints its variables.
func TestAppearsInIncidentSim(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "incident-sim")
	build := exec.CommandContext(t.Context(), "go", "build", "-tags", "examplevendor", "-o", bin, "github.com/incident-mcp/incident-mcp/cmd/incident-sim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build incident-sim: %v\n%s", err, out)
	}
	envFile := filepath.Join(t.TempDir(), "sim.env")
	args := []string{"-admin-addr", "127.0.0.1:0", "-incidents", "10", "-env-file", envFile}
	for _, k := range registry.Keys() {
		args = append(args, "-"+k+"-addr", "127.0.0.1:0")
	}
	sim := exec.CommandContext(t.Context(), bin, args...)
	stdout, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ep map[string]string
	if err := json.Unmarshal([]byte(line), &ep); err != nil || ep[examplevendor.Vendor] == "" {
		t.Fatalf("endpoints %q (%v) name no example simulator", line, err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ep[examplevendor.Vendor]+"/api/incidents?limit=5", nil)
	req.Header.Set("Authorization", "Bearer "+examplevendor.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the example simulator answered %d", resp.StatusCode)
	}
	resp, err = http.Get(ep["admin"] + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]struct {
		Attempts int `json:"attempts"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil || stats[examplevendor.Vendor].Attempts != 1 {
		t.Errorf("incident-sim's stats of the example simulator: %+v (%v), want 1 attempt", stats, err)
	}
	exports, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(exports), "export EXAMPLE_URL='"+ep[examplevendor.Vendor]+"'\n") {
		t.Errorf("incident-sim's variables lack EXAMPLE_URL:\n%s", exports)
	}
}

// TestFilesNamingTheVendor: outside its own package, only the registry's
// one line names the example vendor in code. Besides it, two files name it
// for bookkeeping, not code: the package table of docs/architecture.md
// (tools/readme_test.go wants every package listed) and the Makefile line
// that runs these tagged tests in CI.
func TestFilesNamingTheVendor(t *testing.T) {
	root := filepath.Join("..", "..")
	allowed := map[string]string{
		"vendors/registry/example.go": "the registry line",
		"docs/architecture.md":        "the package table row",
		"Makefile":                    "the CI run of the tagged tests",
	}
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "vendors/examplevendor" || rel == "bin" || (rel != "." && strings.HasPrefix(d.Name(), ".")) || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "examplevendor") {
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("files outside vendors/examplevendor that name it: %v", found)
	for _, f := range found {
		if _, ok := allowed[f]; !ok {
			t.Errorf("%s names the example vendor: a vendor must need no file outside its package but the registry line", f)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "vendors", "registry", "example.go"))
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") && !strings.HasPrefix(l, "package ") && !strings.HasPrefix(l, "import ") {
			code = append(code, l)
		}
	}
	if len(code) != 1 {
		t.Errorf("vendors/registry/example.go holds %d lines of code, want the one registry line: %q", len(code), code)
	}
}
