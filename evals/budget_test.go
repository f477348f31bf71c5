package evals

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/prompts"
)

var updateBaseline = flag.Bool("update-baseline", false, "rewrite testdata/token_baseline.json (make evals-baseline)")

const baselineFile = "testdata/token_baseline.json"

// growthAllowed is how much a count may grow over its baseline before the
// test fails: more means the baseline must be updated in the same change.
const growthAllowed = 0.05

// TestTokenBudget counts what a model reads — tools/list, every prompt,
// typical results — and fails when a count grows more than 5 % over the
// checked-in baseline. An intended growth updates the baseline with
// make evals-baseline, so the cost shows in review.
func TestTokenBudget(t *testing.T) {
	env := startEnv(t)
	got := map[string]int{}

	tl, err := env.Client.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tl.Tools)
	got["tools/list"] = Tokens(string(b))
	for _, tool := range tl.Tools {
		b, _ := json.Marshal(tool)
		got["tool/"+tool.Name] = Tokens(string(b))
	}
	init := prompts.Instructions
	got["instructions"] = Tokens(init)

	facts := Facts(env.Demo)
	for _, name := range prompts.Names() {
		req := mcp.GetPromptRequest{}
		req.Params.Name = name
		req.Params.Arguments = exampleArgs(name, facts)
		res, err := env.Client.GetPrompt(t.Context(), req)
		if err != nil {
			t.Fatalf("prompt %s: %v", name, err)
		}
		got["prompt/"+name] = Tokens(res.Messages[0].Content.(mcp.TextContent).Text)
	}

	typical := []struct {
		name string
		tool string
		args map[string]any
	}{
		{"list/eset page of 20", "list_incidents", map[string]any{"instance": "eset"}},
		{"list/kaspersky page of 20", "list_incidents", map[string]any{"instance": "kaspersky"}},
		{"list/dlp page of 20", "list_incidents", map[string]any{"instance": "dlp"}},
		{"list/explain", "list_incidents", map[string]any{"instance": "eset", "min_severity": "high", "created_after": "3d", "explain": true}},
		{"get/eset", "get_incident", map[string]any{"id": Newest(facts, []string{"eset"}).ID}},
		{"get/kaspersky", "get_incident", map[string]any{"id": Newest(facts, []string{"kaspersky"}).ID}},
		{"get/dlp", "get_incident", map[string]any{"id": Newest(facts, []string{"dlp"}).ID}},
		{"get/eset with sections", "get_incident", map[string]any{"id": Newest(facts, []string{"eset"}).ID, "include": []string{"comments", "history", "evidence"}}},
		{"get/kaspersky with sections", "get_incident", map[string]any{"id": Newest(facts, []string{"kaspersky"}).ID, "include": []string{"comments", "history", "evidence"}}},
		{"get/dlp with sections", "get_incident", map[string]any{"id": Newest(facts, []string{"dlp"}).ID, "include": []string{"comments", "history", "evidence"}}},
		{"list/related_to", "list_incidents", map[string]any{"related_to": Newest(facts, []string{"kaspersky"}).ID}},
		{"update/preview", "update_incident", map[string]any{"id": Newest(facts, []string{"dlp"}).ID, "status": "closed", "resolution": "false_positive"}},
		{"error/bad argument", "list_incidents", map[string]any{"instance": "eset", "since": "3d"}},
	}
	for _, c := range typical {
		r := env.call(t, c.tool, c.args)
		text := r.Text
		if c.tool == "update_incident" {
			// The token is random per call; count its shape, not its bytes.
			text = strings.ReplaceAll(text, fmt.Sprint(r.Structured["confirmation_token"]), strings.Repeat("x", len(fmt.Sprint(r.Structured["confirmation_token"]))))
		}
		got["result/"+c.name] = Tokens(text)
	}

	if *updateBaseline {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(baselineFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(baselineFile)
	if err != nil {
		t.Fatalf("%v; run make evals-baseline", err)
	}
	var base map[string]int
	if err := json.Unmarshal(raw, &base); err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-32s %8s %8s\n", "what", "tokens", "baseline")
	for _, k := range slices.Sorted(maps.Keys(got)) {
		n, ok := base[k]
		fmt.Fprintf(&table, "%-32s %8d %8d\n", k, got[k], n)
		switch {
		case !ok:
			t.Errorf("%s: %d tokens and no baseline; run make evals-baseline", k, got[k])
		case float64(got[k]) > float64(n)*(1+growthAllowed):
			t.Errorf("%s: %d tokens, %.0f%% over the baseline %d; trim it, or run make evals-baseline and commit the new baseline with the change", k, got[k], 100*(float64(got[k])/float64(n)-1), n)
		}
	}
	for k := range base {
		if _, ok := got[k]; !ok {
			t.Errorf("baseline has %q, which is no longer measured; run make evals-baseline", k)
		}
	}
	t.Logf("\n%s", table.String())
}

// exampleArgs are a prompt's example arguments with incident ids that
// exist in the demo.
func exampleArgs(name string, facts []Fact) map[string]string {
	args := prompts.Examples(name)
	if id, ok := args["incident_id"]; ok {
		inst, _, _ := strings.Cut(id, ":")
		e := Expect{Instances: []string{inst}, Status: []string{"open"}}
		args["incident_id"] = e.Select(facts)[1].ID // [0] is an injection incident
	}
	return args
}
