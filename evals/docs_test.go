package evals

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/prompts"
)

var instances = []string{"eset", "kaspersky", "dlp"}

// docCall is one example call found in the documentation.
type docCall struct {
	from string
	tool string
	args map[string]any
}

var (
	inspectorTool = regexp.MustCompile(`--tool-name (\S+)`)
	inspectorArg  = regexp.MustCompile(`--tool-arg '?(\w+)=(\S+)`)
	shellVarArg   = regexp.MustCompile(`--tool-arg '?\w+=\S*\$`)
	promptCall    = regexp.MustCompile("`([a-z_]+) (\\{[^`]*\\})`")
	jsonExample   = regexp.MustCompile(`(?s)Example[^{]*?(\{[^\n]*\})`)
	celExample    = regexp.MustCompile(`Example: (.*?)\. [A-Z]`)
)

// docFiles are the README and every page of docs/.
func docFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range append([]string{"../README.md"}, paths...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, "../")] = string(b)
	}
	return out
}

// readmeExamples: the Inspector command lines of the README and docs/ (one
// call per line; lines with a <placeholder> are walked through by hand, and
// lines whose arguments carry a shell variable belong to the walkthroughs
// cmd/incident-mcp's TestWalkthrough runs as written),
// and the CEL block of the filter-language reference.
func readmeExamples(t *testing.T) (calls []docCall, wheres []string) {
	docs := docFiles(t)
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		for _, block := range strings.Split(docs[name], "```")[1:] {
			for _, line := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
				m := inspectorTool.FindStringSubmatch(line)
				if m == nil || strings.Contains(line, "<") || shellVarArg.MatchString(line) {
					continue
				}
				args := map[string]any{}
				for _, a := range inspectorArg.FindAllStringSubmatch(line, -1) {
					var v any = strings.Trim(a[2], "'")
					if json.Valid([]byte(v.(string))) && strings.HasPrefix(v.(string), "[") {
						json.Unmarshal([]byte(v.(string)), &v)
					}
					args[a[1]] = v
				}
				calls = append(calls, docCall{name + " inspector example", m[1], args})
			}
		}
	}
	_, after, ok := strings.Cut(docs["docs/reference-filter.md"], "`where` takes a [CEL]")
	if !ok {
		t.Fatal("docs/reference-filter.md: no where section")
	}
	parts := strings.SplitN(after, "```", 3)
	for _, line := range strings.Split(parts[1], "\n") {
		if line = strings.TrimSpace(line); line != "" {
			wheres = append(wheres, line)
		}
	}
	return calls, wheres
}

// TestDocExamples runs every example call of the README, the tool
// descriptions and the prompts against the demo: each must succeed, and a
// where example must match something without exhausting a call's budget on
// any instance.
func TestDocExamples(t *testing.T) {
	env := startEnv(t)
	calls, wheres := readmeExamples(t)
	if len(calls) == 0 || len(wheres) < 3 {
		t.Fatalf("found %d README calls and %d where examples; the extraction is broken", len(calls), len(wheres))
	}

	tl, err := env.Client.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tl.Tools {
		for _, m := range jsonExample.FindAllStringSubmatch(tool.Description, -1) {
			var args map[string]any
			if err := json.Unmarshal([]byte(m[1]), &args); err != nil {
				t.Errorf("%s description: example %s is not JSON: %v", tool.Name, m[1], err)
				continue
			}
			calls = append(calls, docCall{tool.Name + " description", tool.Name, args})
		}
		raw, _ := json.Marshal(tool.InputSchema)
		var s struct {
			Properties map[string]struct {
				Description string `json:"description"`
			} `json:"properties"`
		}
		json.Unmarshal(raw, &s)
		if p, ok := s.Properties["where"]; ok {
			for _, m := range celExample.FindAllStringSubmatch(p.Description, -1) {
				wheres = append(wheres, m[1])
			}
		}
		if tool.Name == "list_incidents" && len(tl.Tools) > 0 && !strings.Contains(string(raw), "where") {
			t.Error("list_incidents has no where argument")
		}
	}

	facts := Facts(env.Demo)
	for _, name := range prompts.Names() {
		req := mcp.GetPromptRequest{}
		req.Params.Name = name
		req.Params.Arguments = exampleArgs(name, facts)
		res, err := env.Client.GetPrompt(t.Context(), req)
		if err != nil {
			t.Fatalf("prompt %s: %v", name, err)
		}
		for _, m := range promptCall.FindAllStringSubmatch(res.Messages[0].Content.(mcp.TextContent).Text, -1) {
			var args map[string]any
			if err := json.Unmarshal([]byte(m[2]), &args); err != nil {
				t.Errorf("prompt %s: %s is not JSON", name, m[0])
				continue
			}
			calls = append(calls, docCall{"prompt " + name, m[1], args})
		}
	}

	for _, c := range calls {
		targets := []map[string]any{c.args}
		if _, ok := c.args["instance"]; !ok && c.tool == "list_incidents" {
			targets = nil
			for _, in := range instances {
				a := cloneArgs(c.args)
				a["instance"] = in
				targets = append(targets, a)
			}
		}
		for _, args := range targets {
			if r := env.call(t, c.tool, args); r.IsError {
				t.Errorf("%s: %s %v failed: %s", c.from, c.tool, args, clip(r.Text))
			}
		}
	}
	for _, w := range wheres {
		matched := 0
		for _, in := range instances {
			r := env.call(t, "list_incidents", map[string]any{"instance": in, "where": w, "page_size": 5})
			if r.IsError {
				t.Errorf("where example %q on %s: %s", w, in, clip(r.Text))
				continue
			}
			if scan, _ := r.Structured["scan"].(map[string]any); scan["budget_reached"] == true {
				t.Errorf("where example %q on %s spends a whole call's budget (%v upstream requests)", w, in, scan["upstream_requests"])
			}
			incs, _ := r.Structured["incidents"].([]any)
			matched += len(incs)
		}
		if matched == 0 {
			t.Errorf("where example %q matches nothing on any instance", w)
		}
	}
	t.Logf("%d example calls and %d where examples ran", len(calls), len(wheres))
}
