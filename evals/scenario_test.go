package evals

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestScenarios plays every analyst scenario against the demo and prints
// the table: scenario, calls, tokens read, pass.
func TestScenarios(t *testing.T) {
	scs, err := LoadScenarios(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) < 25 {
		t.Fatalf("%d scenarios; the evals need at least 25", len(scs))
	}
	env := startEnv(t)
	var table strings.Builder
	fmt.Fprintf(&table, "%-40s %5s %7s  %s\n", "scenario", "calls", "tokens", "pass")
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			o := sc.Run(env.Caller(t.Context()),
				func() []Fact { return Facts(env.Demo) })
			for _, f := range o.Failures {
				t.Errorf("%s\n  question: %s", f, sc.Question)
			}
			fmt.Fprintf(&table, "%-40s %5d %7d  %v\n", sc.Name, o.Calls, o.Tokens, len(o.Failures) == 0 && !t.Failed())
		})
	}
	t.Logf("\n%s", table.String())
}
