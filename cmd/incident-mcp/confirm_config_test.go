package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

const confirmBase = `instances:
  - name: eset-prod
    vendor: eset
    region: eu
    username: api
    password_file: pw
`

// TestConfirmSectionFromConfig reads the confirm: section of a config file
// into the policy the update tool enforces.
func TestConfirmSectionFromConfig(t *testing.T) {
	load := func(t *testing.T, extra string) (*approval.Policy, error) {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "incident-mcp.yaml")
		if err := os.WriteFile(path, []byte(confirmBase+extra), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := config.Load(path, registry.Settings(), func(string) string { return "" })
		if err != nil {
			return nil, err
		}
		instances, err := wiring.Build(f, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		flags := &approval.Policy{Rule: approval.Rule{Paths: approval.DefaultPaths}}
		return withConfig(flags, path, f.Confirm, instances)
	}

	t.Run("absent keeps the flags", func(t *testing.T) {
		pol, err := load(t, "")
		if err != nil {
			t.Fatal(err)
		}
		req := pol.For("eset-prod", []schema.PatchField{schema.PatchComment})
		if req.Paths.Has(approval.PathToken) {
			t.Errorf("token allowed without the file naming it: %+v", req)
		}
	})
	t.Run("per change and per instance", func(t *testing.T) {
		pol, err := load(t, `confirm:
  changes:
    comment: {paths: [elicitation, approval, token]}
  instances:
    eset-prod:
      changes:
        close: {paths: [approval], approvers: 2}
`)
		if err != nil {
			t.Fatal(err)
		}
		comment := pol.For("eset-prod", []schema.PatchField{schema.PatchComment})
		if !comment.Paths.Has(approval.PathToken) {
			t.Errorf("comment: token should be allowed: %+v", comment)
		}
		closing := pol.For("eset-prod", []schema.PatchField{schema.PatchClose})
		if closing.Paths.Has(approval.PathToken) || closing.Paths.Has(approval.PathElicitation) || closing.Approvers != 2 {
			t.Errorf("close: want the approval page with two approvers, got %+v", closing)
		}
		both := pol.For("eset-prod", []schema.PatchField{schema.PatchClose, schema.PatchComment})
		if both.Paths.Has(approval.PathToken) {
			t.Errorf("close+comment must follow the stricter rule: %+v", both)
		}
	})
	for _, tc := range []struct{ name, section, want string }{
		{"unknown key", "confirm:\n  pathz: [token]\n", "pathz"},
		{"unknown path", "confirm:\n  paths: [telepathy]\n", "telepathy"},
		{"unknown instance", "confirm:\n  instances:\n    eset-test: {paths: [approval]}\n", "eset-test"},
		{"unknown change", "confirm:\n  changes:\n    delete: {paths: [approval]}\n", "delete"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := load(t, tc.section)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "incident-mcp.yaml:") {
				t.Fatalf("want an error naming the file, line and %q, got %v", tc.want, err)
			}
		})
	}
}
