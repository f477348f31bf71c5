package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstancesFromEnv(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("secret-key\n"), 0o600)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{"nothing", nil, nil, "--demo"},
		{"eset region", map[string]string{"ESET_REGION": "eu", "ESET_USERNAME": "u", "ESET_PASSWORD": "p"}, []string{"eset"}, ""},
		{"eset bad region", map[string]string{"ESET_REGION": "moon", "ESET_USERNAME": "u", "ESET_PASSWORD": "p"}, nil, "unknown region"},
		{"eset without password", map[string]string{"ESET_REGION": "eu", "ESET_USERNAME": "u"}, nil, "password"},
		{"all three", map[string]string{
			"ESET_REGION": "de", "ESET_USERNAME": "u", "ESET_PASSWORD": "p",
			"KASPERSKY_URL": "https://api.xdr.example.com", "KASPERSKY_TOKEN": "t", "KASPERSKY_TENANTS": "a, b",
			"DLP_URL": "https://acme.cyberhaven.io", "DLP_API_KEY_FILE": keyFile, "DLP_READ_ONLY": "true",
		}, []string{"eset", "kaspersky", "dlp"}, ""},
		{"missing secret file", map[string]string{"DLP_URL": "https://x", "DLP_API_KEY_FILE": "/nonexistent/key"}, nil, "DLP_API_KEY_FILE"},
		{"read-only as 1", map[string]string{"DLP_URL": "https://x", "DLP_API_KEY": "k", "DLP_READ_ONLY": "1"}, []string{"dlp"}, ""},
		{"read-only as YES", map[string]string{"DLP_URL": "https://x", "DLP_API_KEY": "k", "DLP_READ_ONLY": "YES"}, []string{"dlp"}, ""},
		{"read-only not a boolean", map[string]string{"DLP_URL": "https://x", "DLP_API_KEY": "k", "DLP_READ_ONLY": "ture"}, nil, "DLP_READ_ONLY"},
		{"insecure not a boolean", map[string]string{"KASPERSKY_URL": "https://x", "KASPERSKY_TOKEN": "t", "KASPERSKY_INSECURE": "on"}, nil, "KASPERSKY_INSECURE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := instancesFromEnv(envReader{func(k string) string { return tc.env[k] }}, slog.New(slog.DiscardHandler))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, in := range got {
				names = append(names, in.Name)
				if in.Name == "dlp" && !in.ReadOnly {
					t.Error("DLP_READ_ONLY ignored")
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("instances %v, want %v", names, tc.want)
			}
		})
	}
}

func TestRunFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run(t.Context(), []string{"-version"}, func(string) string { return "" }, nil, &out, &errs); err != nil || !strings.HasPrefix(out.String(), "incident-mcp ") {
		t.Errorf("-version: %v %q", err, out.String())
	}
	if err := run(t.Context(), []string{"extra"}, func(string) string { return "" }, nil, &out, &errs); err == nil {
		t.Error("a stray argument was accepted")
	}
	if err := run(t.Context(), []string{"-help"}, func(string) string { return "" }, nil, &out, &errs); err != nil || !strings.Contains(errs.String(), "KASPERSKY_TOKEN") {
		t.Errorf("-help: %v, usage lacks the environment: %q", err, errs.String())
	}
	env := map[string]string{"INCIDENT_MCP_SECRET": "short", "HOME": t.TempDir()}
	if err := run(t.Context(), []string{"-demo"}, func(k string) string { return env[k] }, nil, &out, &errs); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("a short secret: %v", err)
	}
}

// TestDemoAuditInTempFile: the demo keeps its audit log out of the user's
// state directory and says where it is.
func TestDemoAuditInTempFile(t *testing.T) {
	tmp, home := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out, errs bytes.Buffer
	env := map[string]string{"HOME": home}
	if err := run(t.Context(), []string{"-demo"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errs.String(), "writes are audited") || !strings.Contains(errs.String(), filepath.Join(tmp, "incident-mcp-demo-")) {
		t.Errorf("the log does not say the audit is in a temporary file under %s:\n%s", tmp, errs.String())
	}
	if _, err := os.Stat(filepath.Join(home, ".local")); !os.IsNotExist(err) {
		t.Errorf("the demo wrote under HOME: %v", err)
	}
}
