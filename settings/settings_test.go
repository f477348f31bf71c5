package settings_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/settings"
)

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, "1": true, "yes": true, "Yes": true, "false": false, "0": false, "no": false, " NO ": false} {
		if got, err := settings.ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "on", "off", "y", "2", "ture", "enabled"} {
		if _, err := settings.ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) accepted", in)
		}
	}
}

// TestEnv: NAME_FILE wins over NAME, counts are positive, lists drop
// empty items, <INSTANCE>_READ_ONLY is strict.
func TestEnv(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/secret"
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"A": "inline", "A_FILE": path, "N": "3", "BAD": "-1", "L": " x, ,y ", "X_READ_ONLY": "maybe"}
	env := settings.Env{Get: func(k string) string { return vars[k] }}
	if v, err := env.Secret("A"); err != nil || v != "from-file" {
		t.Errorf("Secret(A) = %q, %v", v, err)
	}
	if n, err := env.Count("N"); err != nil || n != 3 {
		t.Errorf("Count(N) = %d, %v", n, err)
	}
	if _, err := env.Count("BAD"); err == nil {
		t.Error("Count accepted -1")
	}
	if got := strings.Join(env.List("L"), "|"); got != "x|y" {
		t.Errorf("List(L) = %q", got)
	}
	if _, err := env.ReadOnly("x"); err == nil || !strings.Contains(err.Error(), "X_READ_ONLY") {
		t.Errorf("ReadOnly(x) = %v", err)
	}
}

func TestRateLimitText(t *testing.T) {
	if got := settings.RateLimitText(30, time.Minute, 2); got != "30 requests per 1m0s, at most 2 at once" {
		t.Errorf("got %q", got)
	}
	if got := settings.RateLimitText(5, time.Second, 0); got != "5 requests per 1s" {
		t.Errorf("got %q", got)
	}
}
