package tools_test

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/tools"
)

// BenchmarkListIncidents is one list_incidents call in-process, through the
// MCP client, the service and the ESET driver, against esetsim on loopback.
func BenchmarkListIncidents(b *testing.B) {
	f := newFixtureTB(b, protocolVersions[1], setup{})
	req := mcp.CallToolRequest{}
	req.Params.Name = tools.ListIncidents
	req.Params.Arguments = map[string]any{"instance": "eset", "min_severity": "high", "status": []string{"open", "in_progress"}, "created_after": "30d", "page_size": 20}
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.c.CallTool(b.Context(), req)
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
}
