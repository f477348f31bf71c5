package tools_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/tools"
)

// TestToolsListSize: tools/list stays lean however many instances are
// configured, since per-instance facts live in describe_instances.
func TestToolsListSize(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	for _, tc := range []struct {
		copies int
		limit  int
	}{{1, 7 << 10}, {4, 8 << 10}} { // three and twelve instances; 7 KiB since get_incident's sections and list_incidents' related_to and changed_since
		t.Run(fmt.Sprintf("%d instances", 3*tc.copies), func(t *testing.T) {
			var ins []*incidents.Instance
			for i := range tc.copies {
				for _, in := range f.env.Instances {
					name := in.Name
					if i > 0 {
						name = fmt.Sprintf("%s-region-%d", in.Name, i)
					}
					ins = append(ins, &incidents.Instance{Name: name, Driver: in.Driver, ReadOnly: i%2 == 1})
				}
			}
			sealer, _ := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
			svc, err := incidents.New(ins, sealer, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			srv := tools.NewServer(svc, "test", slog.New(slog.DiscardHandler), tools.Options{})
			size := toolsListSize(t, srv)
			t.Logf("tools/list with %d instances: %d bytes", len(ins), size)
			if size > tc.limit {
				t.Errorf("tools/list is %d bytes with %d instances, limit %d", size, len(ins), tc.limit)
			}
		})
	}
}

// toolsListSize is the byte size of the tools/list response on the wire.
func toolsListSize(t *testing.T, srv *server.MCPServer) int {
	t.Helper()
	req, _ := json.Marshal(mcp.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(1), Request: mcp.Request{Method: "tools/list"}})
	resp := srv.HandleMessage(t.Context(), req)
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"list_incidents"`) {
		t.Fatalf("no tools in %s", b)
	}
	return len(b)
}
