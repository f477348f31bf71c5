package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAuditCommand(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := writeFile(log); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope.jsonl")
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		command bool
		err     string
	}{
		{"not the command", []string{"--http", ":0"}, []string{"--http", ":0"}, false, ""},
		{"reconcile", []string{"audit", "reconcile", log}, []string{"--audit-log", log}, true, ""},
		{"with flags", []string{"audit", "reconcile", "--config", "c.yaml", log}, []string{"--config", "c.yaml", "--audit-log", log}, true, ""},
		{"no file", []string{"audit", "reconcile"}, nil, false, "usage"},
		{"other subcommand", []string{"audit", "show", log}, nil, false, "usage"},
		{"missing file is not created", []string{"audit", "reconcile", missing}, nil, false, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, command, err := auditCommand(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("auditCommand(%q) error %v, want one saying %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil || command != tc.command || !slices.Equal(got, tc.want) {
				t.Errorf("auditCommand(%q) = %q, %v, %v; want %q, %v", tc.args, got, command, err, tc.want, tc.command)
			}
		})
	}
}

func writeFile(path string) error { return os.WriteFile(path, nil, 0o600) }
