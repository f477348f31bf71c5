package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// readmeConfig is the configuration example of the README.
func readmeConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "reference-config.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- config-example:start -->\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```\n<!-- config-example:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/reference-config.md has no config example between the markers")
	}
	return example
}

// TestCheckConfigREADME: --check-config accepts the README's example once
// the secrets it names exist, and prints its instances without secrets.
func TestCheckConfigREADME(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	os.Mkdir(secrets, 0o700)
	for name, v := range map[string]string{"eset-eu.password": "pw-eu-secret", "kaspersky-acme.token": "tok-secret", "dlp.key": "dlp-secret", "acme-ca.pem": selfSignedPEM(t)} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "incident-mcp.yaml")
	if err := os.WriteFile(path, []byte(readmeConfig(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ESET_US_PASSWORD": "pw-us-secret"}
	var out, errs bytes.Buffer
	if err := run(t.Context(), []string{"--check-config", path}, func(k string) string { return env[k] }, nil, &out, &errs); err != nil {
		t.Fatalf("--check-config on the README example: %v", err)
	}
	got := out.String()
	for _, w := range []string{"4 instance(s)", "eset-eu (eset, read-write", "eset-us (eset, read-only", "kaspersky-acme (kaspersky", "dlp (dlp", "env ESET_US_PASSWORD", "5 requests per second", "60 requests per 1m0s, at most 5 at once"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	for _, secret := range []string{"pw-eu-secret", "pw-us-secret", "tok-secret", "dlp-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("secret %q was printed:\n%s", secret, got)
		}
	}

	// Without the environment variable it names, the same file is refused
	// with the line and key.
	err := run(t.Context(), []string{"--check-config", path}, func(string) string { return "" }, nil, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "instances[1].password_env") || !strings.Contains(err.Error(), path+":") {
		t.Errorf("missing ESET_US_PASSWORD: %v", err)
	}
}

// TestConfigRefusedAtStart: a bad file stops the server before it serves.
func TestConfigRefusedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("instances:\n  - name: d\n    vendor: dlp\n    url: https://x.example\n    api_key: k\n"), 0o644)
	env := map[string]string{"HOME": t.TempDir(), "INCIDENT_MCP_SECRET": strings.Repeat("s", 32)}
	var out, errs bytes.Buffer
	err := run(t.Context(), []string{"--config", path}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs)
	if err == nil || !strings.Contains(err.Error(), path+":5:5: instances[0].api_key") {
		t.Errorf("inline secret in a 0644 file: %v", err)
	}
}

// TestNoVendorConfigured: without a file or a vendor's variables, the
// error names every registered vendor's variables and the help lists them.
func TestNoVendorConfigured(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "INCIDENT_MCP_SECRET": strings.Repeat("s", 32)}
	var out, errs bytes.Buffer
	err := run(t.Context(), nil, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs)
	if err == nil {
		t.Fatal("started without a vendor")
	}
	keys := registry.Keys()
	for i, k := range keys {
		if !strings.Contains(err.Error(), strings.ToUpper(k)+"_*") {
			t.Errorf("the error does not name %s's variables: %v", k, err)
		}
		if i == len(keys)-1 && len(keys) > 1 && !strings.Contains(err.Error(), " or "+strings.ToUpper(k)+"_*") {
			t.Errorf("the list of variables does not end with %s: %v", k, err)
		}
	}
	for _, v := range registry.All() {
		if !strings.Contains(envHelp(), v.Settings.EnvHelp) {
			t.Errorf("-help lacks the variables of %s", v.Key())
		}
	}
}

// TestDemoReadOnlyFromEnv: --demo honours <VENDOR>_READ_ONLY, strictly.
func TestDemoReadOnlyFromEnv(t *testing.T) {
	env, err := demotest.Start(demotest.Options{Incidents: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	vars := map[string]string{"ESET_READ_ONLY": "yes", "DLP_READ_ONLY": "0"}
	if err := readOnlyFromEnv(env.Instances, func(k string) string { return vars[k] }); err != nil {
		t.Fatal(err)
	}
	for _, in := range env.Instances {
		if in.ReadOnly != (in.Name == "eset") {
			t.Errorf("%s read-only = %v", in.Name, in.ReadOnly)
		}
	}
	vars["KASPERSKY_READ_ONLY"] = "sure"
	if err := readOnlyFromEnv(env.Instances, func(k string) string { return vars[k] }); err == nil || !strings.Contains(err.Error(), "KASPERSKY_READ_ONLY") {
		t.Errorf("a non-boolean was accepted: %v", err)
	}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acme-ca"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
