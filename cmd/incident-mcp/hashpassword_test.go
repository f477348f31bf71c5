package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/incident-mcp/incident-mcp/approval"
)

// TestHashPasswordLine: the printed line is one the approvers file takes,
// and it admits that password only.
func TestHashPasswordLine(t *testing.T) {
	defer func(c int) { hashPasswordCost = c }(hashPasswordCost)
	hashPasswordCost = bcrypt.MinCost // the format is the same; -race makes cost 12 take a minute
	var out bytes.Buffer
	if err := run(t.Context(), []string{"hash-password", "alice"}, func(string) string { return "" }, strings.NewReader("correct horse\n"), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	if !strings.HasPrefix(line, "alice:$2") {
		t.Fatalf("printed %q, want alice:<bcrypt>", line)
	}
	path := filepath.Join(t.TempDir(), "approvers")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := approval.LoadApprovers(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Check("alice", "correct horse"); !ok {
		t.Error("the hashed password is refused")
	}
	if _, ok := a.Check("alice", "correct horse\n"); ok {
		t.Error("another password is accepted")
	}
	for _, bad := range []struct {
		args  []string
		stdin string
	}{{[]string{"hash-password"}, ""}, {[]string{"hash-password", "a:b"}, "pw\n"}, {[]string{"hash-password", "a", "b"}, "pw\n"}} {
		if err := run(t.Context(), bad.args, func(string) string { return "" }, strings.NewReader(bad.stdin), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v with %q accepted", bad.args, bad.stdin)
		}
	}
}

// TestConfigFromEnvironment: INCIDENT_MCP_CONFIG names the file when a
// launcher passes no --config.
func TestConfigFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("instances:\n  - name: d\n    vendor: dlp\n    url: https://x.example\n    api_key: k\n"), 0o644)
	env := map[string]string{"HOME": t.TempDir(), "INCIDENT_MCP_SECRET": strings.Repeat("s", 32), "INCIDENT_MCP_CONFIG": path}
	err := run(t.Context(), nil, func(k string) string { return env[k] }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), path+":5:5: instances[0].api_key") {
		t.Errorf("the file INCIDENT_MCP_CONFIG names was not read: %v", err)
	}
}
