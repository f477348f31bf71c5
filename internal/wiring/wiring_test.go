package wiring_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// TestBuild: each instance gets its vendor's driver, the file's budget
// where it sets none, and its own rate limit text; settings that build no
// driver are refused with the instance's name and line.
func TestBuild(t *testing.T) {
	body := `budget: {requests: 30, time: 15s}
instances:
  - name: k
    vendor: kaspersky
    url: https://xdr.example
    token: t
    budget: {requests: 8}
  - name: d
    vendor: dlp
    url: https://acme.cyberhaven.io
    api_key: k
    read_only: true
`
	f, err := config.Parse([]byte(body), settings.Source{Path: "test", Mode: 0o600}, registry.Settings())
	if err != nil {
		t.Fatal(err)
	}
	ins, err := wiring.Build(f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].Driver.Info().Vendor != "kaspersky" || ins[1].Driver.Info().Vendor != "dlp" {
		t.Fatalf("instances %+v", ins)
	}
	if ins[0].Budget.Requests != 8 || ins[0].Budget.Time != 15*time.Second || ins[1].Budget.Requests != 30 || !ins[1].ReadOnly {
		t.Errorf("budgets %+v %+v, read-only %v", ins[0].Budget, ins[1].Budget, ins[1].ReadOnly)
	}
	if ins[1].RateLimit != f.Instances[1].Settings.RateLimit() {
		t.Errorf("rate limit %q", ins[1].RateLimit)
	}

	f.Instances[0].Settings = foreign{}
	if _, err := wiring.Build(f, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "instance k (line 3)") {
		t.Errorf("foreign settings: %v", err)
	}
}

type foreign struct{}

func (foreign) Summary() []string { return nil }
func (foreign) RateLimit() string { return "" }
