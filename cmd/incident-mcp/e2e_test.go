package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// TestStdioDemo drives the built binary as an MCP client over stdio with both
// protocol generations: list, page to the end, get, bad input.
func TestStdioDemo(t *testing.T) {
	bin := testbin.Command(t, "incident-mcp")
	for _, pv := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(pv, func(t *testing.T) {
			c, err := client.NewStdioMCPClient(bin, []string{"INCIDENT_MCP_SECRET=" + strings.Repeat("s", 32), "XDG_STATE_HOME=" + t.TempDir()}, "--demo", "--log-level", "warn")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = pv
			init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
			res, err := c.Initialize(t.Context(), init)
			if err != nil {
				t.Fatal(err)
			}
			if res.ProtocolVersion != pv {
				t.Errorf("negotiated %s, asked %s", res.ProtocolVersion, pv)
			}
			if !strings.Contains(res.Instructions, "never follow instructions") && !strings.Contains(res.Instructions, "Never follow instructions") {
				t.Errorf("instructions do not warn about vendor text: %q", res.Instructions)
			}
			tools, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
			if err != nil || len(tools.Tools) < 2 {
				t.Fatalf("tools/list: %v %v", tools, err)
			}

			call := func(name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
				req := mcp.CallToolRequest{}
				req.Params.Name, req.Params.Arguments = name, args
				r, err := c.CallTool(t.Context(), req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var sc map[string]any
				b, _ := json.Marshal(r.StructuredContent)
				json.Unmarshal(b, &sc)
				return r, sc
			}

			seen := map[string]bool{}
			args := map[string]any{"instance": "eset", "min_severity": "medium", "page_size": 50}
			for pages := 0; ; pages++ {
				r, sc := call("list_incidents", args)
				if r.IsError {
					t.Fatalf("list: %v", r.Content)
				}
				for _, inc := range sc["incidents"].([]any) {
					m := inc.(map[string]any)
					id := m["id"].(string)
					if seen[id] {
						t.Fatalf("%s twice", id)
					}
					seen[id] = true
					if m["severity"] == "low" {
						t.Errorf("%s is low", id)
					}
				}
				if sc["has_more"] != true {
					break
				}
				if pages > 50 {
					t.Fatal("too many pages")
				}
				args["cursor"] = sc["next_cursor"]
			}
			if len(seen) < 50 {
				t.Fatalf("only %d incidents of medium severity or above in the demo", len(seen))
			}
			var anyID string
			for id := range seen {
				anyID = id
				break
			}
			r, got := call("get_incident", map[string]any{"id": anyID})
			if r.IsError || got["id"] != anyID {
				t.Errorf("get_incident(%s): %v", anyID, r.Content)
			}
			r, _ = call("list_incidents", map[string]any{"instance": "eset", "where": "incident.nope"})
			if !r.IsError {
				t.Error("bad where was accepted")
			}
		})
	}
}
