package prompts_test

import (
	"encoding/json"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/prompts"
	"github.com/incident-mcp/incident-mcp/tools"
)

// connect serves the demo's tools and prompts to an in-process client.
func connect(t *testing.T, opts tools.Options) *client.Client {
	t.Helper()
	env, err := demotest.Start(demotest.Options{Incidents: 30, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("p", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(tools.NewServer(svc, "test", slog.New(slog.DiscardHandler), opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "prompts-test", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c
}

// toolArgs reads tools/list: each tool's argument names.
func toolArgs(t *testing.T, c *client.Client) map[string][]string {
	t.Helper()
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tool := range res.Tools {
		raw, _ := json.Marshal(tool)
		var wire struct {
			InputSchema struct {
				Properties map[string]any `json:"properties"`
			} `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &wire); err != nil {
			t.Fatal(err)
		}
		out[tool.Name] = slices.Sorted(maps.Keys(wire.InputSchema.Properties))
	}
	return out
}

var (
	callRe     = regexp.MustCompile("`([a-z_]+) (\\{[^`]*\\})`")
	backtickRe = regexp.MustCompile("`([a-z][a-z0-9_]*)`")
	toolNameRe = regexp.MustCompile(`\b[a-z]+_incidents?\b`)
)

// Names finds what a text names: tool calls with their JSON arguments,
// backticked identifiers, and words shaped like a tool name.
func checkNames(t *testing.T, text string, args map[string][]string) (calls int) {
	t.Helper()
	for _, m := range callRe.FindAllStringSubmatch(text, -1) {
		calls++
		tool, body := m[1], m[2]
		valid, ok := args[tool]
		if !ok {
			t.Errorf("calls tool %q, which tools/list does not have", tool)
			continue
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Errorf("call %s: arguments are not JSON: %v", m[0], err)
		}
		for k := range a {
			if !slices.Contains(valid, k) {
				t.Errorf("call %s passes %q; %s takes %v", m[0], k, tool, valid)
			}
		}
	}
	rest := callRe.ReplaceAllString(text, "")
	for _, m := range backtickRe.FindAllStringSubmatch(rest, -1) {
		name := m[1]
		if _, ok := args[name]; ok {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(args)), func(a []string) bool { return slices.Contains(a, name) }) {
			t.Errorf("names `%s`, which is neither a tool nor an argument in tools/list", name)
		}
	}
	for _, w := range toolNameRe.FindAllString(text, -1) {
		if _, ok := args[w]; !ok {
			t.Errorf("mentions %q, which tools/list does not have", w)
		}
	}
	return calls
}

// TestPromptsNameOnlyWhatExists renders every prompt with its example
// arguments and checks every tool and argument it names against the
// server's own tools/list.
func TestPromptsNameOnlyWhatExists(t *testing.T) {
	c := connect(t, tools.Options{})
	args := toolArgs(t, c)
	list, err := c.ListPrompts(t.Context(), mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Prompts {
		names = append(names, p.Name)
		if len(p.Description) < 60 {
			t.Errorf("%s: description too short for a person choosing it: %q", p.Name, p.Description)
		}
		for _, a := range p.Arguments {
			if len(a.Description) < 20 {
				t.Errorf("%s: argument %s has no useful description", p.Name, a.Name)
			}
		}
	}
	slices.Sort(names)
	if want := []string{"close_false_positive", "handoff", "investigate", "report", "triage"}; !slices.Equal(names, want) {
		t.Fatalf("prompts/list = %v, want %v", names, want)
	}
	t.Run("instructions", func(t *testing.T) { checkNames(t, prompts.Instructions, args) })
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			req := mcp.GetPromptRequest{}
			req.Params.Name = name
			req.Params.Arguments = prompts.Examples(name)
			res, err := c.GetPrompt(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Messages) != 1 {
				t.Fatalf("%d messages", len(res.Messages))
			}
			text := res.Messages[0].Content.(mcp.TextContent).Text
			if n := checkNames(t, text, args); n == 0 {
				t.Errorf("names no concrete tool call:\n%s", text)
			}
			if strings.Contains(text, "<no value>") {
				t.Errorf("template left a value out:\n%s", text)
			}
			if !strings.Contains(text, "⟦") {
				t.Errorf("does not tell the model how vendor text is fenced")
			}
		})
	}
}

func TestPromptArgumentsValidated(t *testing.T) {
	c := connect(t, tools.Options{})
	for _, tc := range []struct {
		prompt string
		args   map[string]string
		want   string
	}{
		{"triage", map[string]string{"window": "yesterday"}, "not an age"},
		{"triage", map[string]string{"min_severity": "severe"}, "unknown severity"},
		{"triage", map[string]string{"instances": "eset,splunk"}, `unknown instance "splunk"`},
		{"triage", map[string]string{"since": "3d"}, `unknown argument "since"`},
		{"investigate", nil, `"incident_id" is required`},
		{"investigate", map[string]string{"incident_id": "12345"}, "not an incident id"},
		{"investigate", map[string]string{"incident_id": "splunk:1"}, `names instance "splunk"`},
		{"close_false_positive", map[string]string{"incident_id": "dlp:incident-1"}, `"reason" is required`},
		{"close_false_positive", map[string]string{"incident_id": "dlp:incident-1", "reason": "ok\u202edone"}, "control characters"},
		{"nope", nil, "not found"},
	} {
		t.Run(tc.prompt+"/"+tc.want, func(t *testing.T) {
			req := mcp.GetPromptRequest{}
			req.Params.Name = tc.prompt
			req.Params.Arguments = tc.args
			_, err := c.GetPrompt(t.Context(), req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		req := mcp.GetPromptRequest{}
		req.Params.Name = "triage"
		res, err := c.GetPrompt(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		text := res.Messages[0].Content.(mcp.TextContent).Text
		for _, want := range []string{`"instance": "eset"`, `"instance": "kaspersky"`, `"instance": "dlp"`, `"min_severity": "medium"`, `"created_after": "24h"`} {
			if !strings.Contains(text, want) {
				t.Errorf("default triage lacks %s:\n%s", want, text)
			}
		}
	})
}

// TestReadOnlyServerOffersNoWritePrompt: with update_incident gone, the
// prompt that needs it is gone too, from listing and getting.
func TestReadOnlyServerOffersNoWritePrompt(t *testing.T) {
	c := connect(t, tools.Options{ReadOnly: true})
	list, err := c.ListPrompts(t.Context(), mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Prompts {
		if p.Name == "close_false_positive" {
			t.Error("read-only server lists close_false_positive")
		}
	}
	req := mcp.GetPromptRequest{}
	req.Params.Name = "close_false_positive"
	req.Params.Arguments = prompts.Examples("close_false_positive")
	if _, err := c.GetPrompt(t.Context(), req); err == nil {
		t.Error("read-only server renders close_false_positive")
	}
}
