package evals

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/prompts"
)

// startEnv starts the harness for one test and stops it when the test ends.
func startEnv(t testing.TB) *Env {
	t.Helper()
	env, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}

// call runs a tool for t: a protocol error fails the test, a tool error is
// a Result with IsError.
func (e *Env) call(t testing.TB, tool string, args map[string]any) Result {
	t.Helper()
	r, err := e.Call(t.Context(), tool, args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHarnessNeedsNoTesting: the harness (the package without its tests)
// links no testing, so a command or another program can run it.
func TestHarnessNeedsNoTesting(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if slices.Contains(strings.Fields(string(out)), "testing") {
		t.Error("package evals depends on testing")
	}
}

// TestCallerErrorEndsTheRun: a call that fails to run is a failure of the
// scenario and ends it, and the live runner returns it.
func TestCallerErrorEndsTheRun(t *testing.T) {
	broken := errors.New("transport closed")
	calls := 0
	call := func(string, map[string]any) (Result, error) { calls++; return Result{}, broken }
	sc := Scenario{Question: "q", Calls: []Step{{Tool: "list_incidents"}, {Tool: "get_incident"}}}
	o := sc.Run(call, func() []Fact { return nil })
	if calls != 1 || len(o.Failures) != 1 || !strings.Contains(o.Failures[0], "transport closed") {
		t.Errorf("%d calls, failures %q; want the run to stop at the first with its error", calls, o.Failures)
	}

	srv := replayServer(t, []replayStep{{Status: 200, Response: json.RawMessage(`{"type":"message","stop_reason":"tool_use","content":[{"type":"tool_use","id":"u1","name":"list_incidents","input":{}}]}`)}})
	m := &Model{BaseURL: srv.URL, APIKey: "replay-key", Name: "m", HTTP: srv.Client()}
	if _, err := m.Ask(t.Context(), prompts.Instructions, nil, "q", call); !errors.Is(err, broken) {
		t.Errorf("Ask: %v, want the caller's error", err)
	}
}

// TestCloseRemovesTheAuditDir: Close stops what Start started and leaves no
// temporary directory behind.
func TestCloseRemovesTheAuditDir(t *testing.T) {
	env, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Call(t.Context(), "list_incidents", map[string]any{"instance": "eset", "page_size": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(env.auditDir, "audit.jsonl")); err != nil {
		t.Fatalf("the audit log is not in its directory: %v", err)
	}
	env.Close()
	if _, err := os.Stat(env.auditDir); !os.IsNotExist(err) {
		t.Errorf("%s is left after Close (%v)", env.auditDir, err)
	}
}
