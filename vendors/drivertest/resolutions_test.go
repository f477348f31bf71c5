package drivertest

import (
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestUndeclaredResolutionFails: a driver whose records carry a
// resolution it does not declare fails the suite's record check; declared,
// the same records pass.
func TestUndeclaredResolutionFails(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	incs := memdriver.Generate(3, 40, now)
	incs[5].Status, incs[5].Resolution = schema.StatusClosed, "benign_by_policy"
	for _, tc := range []struct {
		name     string
		declared []schema.Resolution
		want     string // substring of the one problem; "" for none
	}{
		{"undeclared", nil, `resolution "benign_by_policy" is neither normalized`},
		{"declared", []schema.Resolution{"benign_by_policy"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := memdriver.New(memdriver.Config{Incidents: incs, Resolutions: tc.declared})
			all, _, err := ListAll(t.Context(), d, driver.Query{Order: schema.DefaultOrder, PageSize: 50})
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for i := range all {
				if p := resolutionProblem(d.Info(), &all[i]); p != "" {
					problems = append(problems, p)
				}
			}
			got, err := d.Get(t.Context(), "inc-0006")
			if err != nil {
				t.Fatal(err)
			}
			if p := resolutionProblem(d.Info(), got); p != "" {
				problems = append(problems, "get: "+p)
			}
			switch {
			case tc.want == "" && len(problems) > 0:
				t.Errorf("declared resolution flagged: %v", problems)
			case tc.want != "" && (len(problems) != 2 || !strings.Contains(problems[0], tc.want) || !strings.Contains(problems[1], tc.want)):
				t.Errorf("problems %q, want the listed and the read record flagged with %q", problems, tc.want)
			}
		})
	}
}

func TestResolutionInfoProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		info driver.Info
		want string // substring of the one problem; "" for none
	}{
		{"none", driver.Info{}, ""},
		{"own, written", driver.Info{Resolutions: []schema.Resolution{"invalid_other"},
			Write: driver.WriteInfo{Resolutions: []schema.Resolution{schema.ResolutionTruePositive, "invalid_other"}}}, ""},
		{"written, undeclared", driver.Info{Write: driver.WriteInfo{Resolutions: []schema.Resolution{schema.ResolutionTruePositive, "invalid_other"}}},
			`Write.Resolutions has "invalid_other"`},
		{"normalized declared", driver.Info{Resolutions: []schema.Resolution{schema.ResolutionMerged}}, "a normalized resolution"},
		{"not an identifier", driver.Info{Resolutions: []schema.Resolution{"Not a threat"}}, "lower-case identifier"},
		{"named like a severity", driver.Info{Resolutions: []schema.Resolution{"high"}}, "severity or status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolutionInfoProblems(tc.info)
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)) {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
		})
	}
}
