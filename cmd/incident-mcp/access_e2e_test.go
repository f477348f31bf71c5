package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// docsAccess is docs/access.md: its example configuration and the part of
// the --check-config table it shows.
func docsAccess(t *testing.T) (example, table string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "access.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```\n.*?```\n(access: .*?)  …\n```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/access.md lacks its yaml example or the --check-config table after it")
	}
	return string(m[1]), string(m[2])
}

// TestCheckConfigAccessMatrix: --check-config prints the effective access
// matrix of the docs' example, as the docs show it.
func TestCheckConfigAccessMatrix(t *testing.T) {
	example, table := docsAccess(t)
	path := filepath.Join(t.TempDir(), "incident-mcp.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testbin.Command(t, "incident-mcp"), "--check-config", path)
	cmd.Env = append(os.Environ(), "ESET_A_PASSWORD=p", "KASPERSKY_A_TOKEN=t", "DLP_B_API_KEY=k")
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("--check-config on the docs' example: %v\n%s", err, errs.String())
	}
	if !strings.Contains(out.String(), table) {
		t.Errorf("--check-config does not print the table docs/access.md shows:\n%s\nwant it to contain:\n%s", out.String(), table)
	}
	for _, row := range []string{"scope:incidents.read  eset-a       yes   -                     -"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("--check-config lacks %q:\n%s", row, out.String())
		}
	}
}

// TestAccessOverHTTP drives the built binary with bearer tokens over the
// docs' access rules and a few cells of the matrix: alice (a token) reads
// and changes what the rules grant her and nothing else, and a token no
// rule names sees nothing at all.
func TestAccessOverHTTP(t *testing.T) {
	env, err := demotest.Start(demotest.Options{Seed: 7, Incidents: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	example, _ := docsAccess(t)
	_, rules, ok := strings.Cut(example, "\naccess:\n")
	if !ok {
		t.Fatal("the docs' example has no access section")
	}
	cfg := strings.NewReplacer("name: eset\n", "name: eset-a\n", "name: kaspersky\n", "name: kaspersky-a\n", "name: dlp\n", "name: dlp-b\n").Replace(env.Config)
	dir := t.TempDir()
	path := filepath.Join(dir, "incident-mcp.yaml")
	if err := os.WriteFile(path, []byte(cfg+"access:\n"+rules), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("alice 1111aaaa2222bbbb3333cccc4444dddd\nmallory 5555eeee6666ffff7777aaaa8888bbbb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHTTPEnv(t, "", nil, "--config", path, "--http-tokens-file", tokens, "--confirm-paths", "token")
	connect := func(token string) *client.Client {
		c, err := p.client(t, map[string]string{"Authorization": "Bearer " + token})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, mallory := connect("1111aaaa2222bbbb3333cccc4444dddd"), connect("5555eeee6666ffff7777aaaa8888bbbb")
	cells := 0
	// answer is a call's whole answer as JSON: the result, or the error.
	answer := func(c *client.Client, tool string, args map[string]any) string {
		t.Helper()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		res, err := c.CallTool(t.Context(), req)
		if err != nil {
			return "error: " + err.Error()
		}
		b, _ := json.Marshal(res)
		return string(b)
	}
	toolNames := func(c *client.Client) []string {
		res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range res.Tools {
			out = append(out, tl.Name)
		}
		return out
	}

	// tools/list per caller.
	if got := toolNames(alice); !slices.Equal(got, []string{"describe_instances", "get_incident", "list_incidents", "update_incident"}) {
		t.Errorf("alice's tools: %v", got)
	}
	if got := toolNames(mallory); !slices.Equal(got, []string{"describe_instances"}) {
		t.Errorf("mallory's tools: %v", got)
	}
	cells += 2

	// list and get, per instance: alice reads A's instances; B's answers
	// exactly as an instance that is not configured.
	ghostList := answer(alice, "list_incidents", map[string]any{"instance": "zz-ghost", "page_size": 1})
	ghostGet := answer(alice, "get_incident", map[string]any{"id": "zz-ghost:x-1"})
	ids := map[string]string{}
	for _, name := range []string{"eset-a", "kaspersky-a", "dlp-b"} {
		got := answer(alice, "list_incidents", map[string]any{"instance": name, "page_size": 1})
		if name == "dlp-b" {
			if got != strings.ReplaceAll(ghostList, "zz-ghost", name) {
				t.Errorf("list dlp-b as alice: %s\nwant as unknown: %s", got, ghostList)
			}
			if got := answer(alice, "get_incident", map[string]any{"id": "dlp-b:x-1"}); got != strings.ReplaceAll(ghostGet, "zz-ghost", name) {
				t.Errorf("get dlp-b as alice: %s\nwant as unknown: %s", got, ghostGet)
			}
			cells += 2
			continue
		}
		var res struct {
			StructuredContent struct {
				Incidents []struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"incidents"`
			} `json:"structuredContent"`
		}
		json.Unmarshal([]byte(got), &res)
		if len(res.StructuredContent.Incidents) != 1 {
			t.Fatalf("list %s as alice: %s", name, got)
		}
		ids[name] = res.StructuredContent.Incidents[0].ID
		if got := answer(alice, "get_incident", map[string]any{"id": ids[name]}); strings.Contains(got, `"isError":true`) {
			t.Errorf("get %s as alice: %s", name, got)
		}
		cells += 2
	}
	// The fan-out asks only A's instances.
	if got := answer(alice, "list_incidents", map[string]any{"page_size": 1}); !strings.Contains(got, `"instances":["eset-a","kaspersky-a"]`) {
		t.Errorf("alice's fan-out: %s", got)
	}
	cells++

	// Changes: a comment on eset-a previews; a severity on kaspersky-a is
	// not alice's to change (refused before the vendor's own limits).
	if got := answer(alice, "update_incident", map[string]any{"id": ids["eset-a"], "comment": "looked at it"}); !strings.Contains(got, "confirmation_token") {
		t.Errorf("comment on eset-a as alice: %s", got)
	}
	if got := answer(alice, "update_incident", map[string]any{"id": ids["kaspersky-a"], "severity": "low"}); !strings.Contains(got, "permission_denied") || !strings.Contains(got, "write:severity") {
		t.Errorf("severity on kaspersky-a as alice: %s", got)
	}
	cells += 2

	// mallory: no instance, and update_incident is a tool that does not exist.
	if got := answer(mallory, "update_incident", map[string]any{"id": ids["eset-a"], "comment": "x"}); got != strings.ReplaceAll(answer(mallory, "no_such_tool", nil), "no_such_tool", "update_incident") {
		t.Errorf("update_incident as mallory: %s", got)
	}
	if got := answer(mallory, "describe_instances", nil); !strings.Contains(got, `"instances":[]`) {
		t.Errorf("describe_instances as mallory: %s", got)
	}
	cells += 2

	// The refusals are in the audit log and the server's log.
	recs, _, err := audit.Read(p.audit)
	if err != nil {
		t.Fatal(err)
	}
	var denied []string
	for _, r := range recs {
		if r.Outcome == audit.Denied {
			denied = append(denied, fmt.Sprintf("%s %s %s", r.Principal, r.Operation, r.Instance))
		}
	}
	if want := []string{"token:alice list dlp-b", "token:alice get dlp-b", "token:alice update kaspersky-a", "token:mallory update_incident "}; !slices.Equal(denied, want) {
		t.Errorf("denied records: %q, want %q", denied, want)
	}
	if !logEventually(func() bool { return strings.Contains(p.stderr.String(), "access denied") }) {
		t.Errorf("no denial in the server's log:\n%s", p.stderr)
	}
	t.Logf("access over HTTP: %d cells checked", cells)
	fmt.Printf("access matrix (black-box over HTTP): %d cells checked\n", cells)
}
