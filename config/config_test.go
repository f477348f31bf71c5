package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// write puts a configuration file with mode in a temp dir, next to a
// password file, and returns its path.
func write(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "incident-mcp.yaml")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

var env = map[string]string{"KTOKEN": "token-1"}

func getenv(k string) string { return env[k] }

// load reads a file against the registry's vendors, as the command does.
func load(path string, getenv func(string) string) (*config.File, error) {
	return config.Load(path, registry.Settings(), getenv)
}

const good = `budget: {requests: 30, time: 15s}
instances:
  - name: eset-eu
    vendor: eset
    region: eu
    username: api@example.com
    password_file: pw
  - name: eset-us
    vendor: eset
    region: us
    username: api@example.com
    password_file: pw
    read_only: yes
    rate_limit: {requests: 5, per: 1s}
  - name: kaspersky-acme
    vendor: kaspersky
    url: https://xdr.acme.example
    token_env: KTOKEN
    tenants: [t1, t2]
    budget: {requests: 8}
  - name: dlp
    vendor: dlp
    url: https://acme.cyberhaven.io
    api_key_file: pw
    rate_limit: {requests: 30, per: 1m, concurrent: 2}
`

func TestLoadGood(t *testing.T) {
	f, err := load(write(t, good, 0o644), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if f.Budget != (config.Budget{Requests: 30, Time: 15 * time.Second}) {
		t.Errorf("budget %+v", f.Budget)
	}
	var names []string
	for _, in := range f.Instances {
		names = append(names, in.Name+"/"+in.Vendor)
	}
	if got := strings.Join(names, ","); got != "eset-eu/eset,eset-us/eset,kaspersky-acme/kaspersky,dlp/dlp" {
		t.Errorf("instances %s", got)
	}
	if f.Instances[0].ReadOnly || !f.Instances[1].ReadOnly {
		t.Error("read_only not read")
	}
	if f.Instances[2].Budget.Requests != 8 || f.Instances[2].Line != 15 {
		t.Errorf("kaspersky instance %+v", f.Instances[2])
	}
	if got := f.Instances[1].Settings.RateLimit(); got != "5 requests per second" {
		t.Errorf("eset-us rate limit %q", got)
	}
	if got := f.Instances[3].Settings.RateLimit(); got != "30 requests per 1m0s, at most 2 at once" {
		t.Errorf("dlp rate limit %q", got)
	}
	if got := strings.Join(f.Instances[0].Settings.Summary(), "; "); strings.Contains(got, "s3cret") || !strings.Contains(got, "file ") {
		t.Errorf("summary %q leaks the secret or hides its source", got)
	}
	ins, err := wiring.Build(f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 4 || ins[2].Budget.Requests != 8 || ins[2].Budget.Time != 15*time.Second || ins[0].Budget.Requests != 30 {
		t.Errorf("built budgets: %+v %+v", ins[2].Budget, ins[0].Budget)
	}
}

// TestLoadBad: every bad file is refused with the file, the line and the key.
func TestLoadBad(t *testing.T) {
	eset := func(extra string) string {
		return "instances:\n  - name: e\n    vendor: eset\n    region: eu\n    username: u\n" + extra
	}
	for _, tc := range []struct {
		name string
		body string
		mode os.FileMode
		line int
		key  string
		want string
	}{
		{"unknown instance key", eset("    password_file: pw\n    passwrd: x\n"), 0o600, 7, "instances[0].passwrd", "unknown key; did you mean password? (valid keys here: api_url, budget, name, password"},
		{"unknown top-level key", "instance:\n  - name: e\n", 0o600, 1, "instance", "unknown key; did you mean instances? (valid keys here: access, budget, confirm, instances, redis_url)"},
		{"missing credential", eset(""), 0o600, 2, "instances[0].password_file", "missing credential"},
		{"inline secret, world-readable file", eset("    password: hunter2\n"), 0o644, 6, "instances[0].password", "others can read (mode 0644)"},
		{"two credentials", eset("    password_file: pw\n    password_env: X\n"), 0o600, 7, "instances[0].password_env", "only one of"},
		{"duplicate name", eset("    password_file: pw\n") + "  - name: e\n    vendor: dlp\n    url: https://x.example\n    api_key_file: pw\n", 0o600, 7, "instances[1].name", "line 2"},
		{"bad url", "instances:\n  - name: d\n    vendor: dlp\n    url: acme.cyberhaven.io\n    api_key_file: pw\n", 0o600, 4, "instances[0].url", "not a URL"},
		{"bad region", strings.Replace(eset("    password_file: pw\n"), "eu", "moon", 1), 0o600, 4, "instances[0].region", "moon"},
		{"unknown vendor", "instances:\n  - name: q\n    vendor: qradar\n", 0o600, 3, "instances[0].vendor", "eset, kaspersky, dlp"},
		{"no name", "instances:\n  - vendor: eset\n", 0o600, 2, "instances[0].name", "missing"},
		{"bad name", "instances:\n  - name: Prod EU\n    vendor: eset\n", 0o600, 2, "instances[0].name", "lower-case"},
		{"read_only not a boolean", eset("    password_file: pw\n    read_only: maybe\n"), 0o600, 7, "instances[0].read_only", `"maybe" is not a boolean`},
		{"bad duration", "budget: {time: soon}\ninstances: []\n", 0o600, 1, "budget.time", "not a duration"},
		{"unknown budget key", "budget: {request: 3}\ninstances: []\n", 0o600, 1, "budget.request", "unknown key"},
		{"negative number", eset("    password_file: pw\n    rate_limit: {requests: -1}\n"), 0o600, 7, "instances[0].rate_limit.requests", "≥ 0"},
		{"secret file missing", eset("    password_file: nope\n"), 0o600, 6, "instances[0].password_file", "cannot read"},
		{"env var unset", "instances:\n  - name: k\n    vendor: kaspersky\n    url: https://x.example\n    token_env: UNSET_TOKEN\n", 0o600, 5, "instances[0].token_env", "UNSET_TOKEN is not set"},
		{"key set twice", eset("    password_file: pw\n    username: v\n"), 0o600, 7, "instances[0].username", "set twice"},
		{"no instances", "budget: {requests: 3}\n", 0o600, 1, "instances", "no instance"},
		{"instances not a list", "instances: {name: e}\n", 0o600, 1, "instances", "expected a list"},
		{"bad redis url", "redis_url: localhost:6379\ninstances: []\n", 0o600, 1, "redis_url", "redis://"},
		{"not yaml", "instances: [\n", 0o600, 0, "(file)", "did not find"},
		{"ca file missing", "instances:\n  - name: k\n    vendor: kaspersky\n    url: https://x.example\n    token_file: pw\n    ca_file: ca.pem\n", 0o600, 6, "instances[0].ca_file", "cannot read"},
		{"rate limit concurrency on eset", eset("    password_file: pw\n    rate_limit: {concurrent: 3}\n"), 0o600, 7, "instances[0].rate_limit", "per second only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, tc.body, tc.mode)
			_, err := load(path, getenv)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			loc := path + ":"
			if tc.line > 0 {
				loc = path + ":" + strconv.Itoa(tc.line) + ":"
			}
			for _, w := range []string{loc, tc.key + ": ", tc.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestInlineSecretInPrivateFile(t *testing.T) {
	body := "instances:\n  - name: e\n    vendor: eset\n    region: eu\n    username: u\n    password: hunter2\n"
	if _, err := load(write(t, body, 0o600), getenv); err != nil {
		t.Fatalf("a 0600 file may hold an inline secret: %v", err)
	}
}

// TestAllErrorsInOnePass: several planted mistakes come back in one error,
// each at its own line and column, unknown keys (with the key they likely
// misspell) first, then what is missing, then the rest.
func TestAllErrorsInOnePass(t *testing.T) {
	body := `budget: {requests: -1}
instances:
  - name: e
    vendor: eset
    region: eu
    username: u
    pasword_file: pw
  - name: k
    vendor: kaspersky
    url: https://x.example
    token_file: pw
    read_only: maybe
  - name: d
    vendr: dlp
`
	path := write(t, body, 0o600)
	_, err := load(path, getenv)
	if err == nil {
		t.Fatal("accepted")
	}
	var errs settings.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%T is not settings.Errors: %v", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Key))
	}
	want := []string{
		"7:5 instances[0].pasword_file", // unknown keys first, in file order
		"14:5 instances[2].vendr",
		"3:5 instances[0].password_file", // then missing values
		"13:5 instances[2].vendor",
		"1:20 budget.requests", // then the rest
		"12:16 instances[1].read_only",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors at\n%s\nwant\n%s\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), err)
	}
	for _, w := range []string{"did you mean password_file?", "did you mean vendor?", "6 problems"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
