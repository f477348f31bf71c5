package telemetry

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

type fakeWrite string

func (f fakeWrite) WriteOutcome() string { return string(f) }

// TestWriteOutcome: a write tool's typed result says how it ended (a
// pending approval is "pending", never "declined"); an input request is a
// preview; any other result is not a write.
func TestWriteOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result *mcp.CallToolResult
		want   string
		write  bool
	}{
		{"pending", mcp.NewToolResultStructured(fakeWrite("pending"), ""), "pending", true},
		{"applied", mcp.NewToolResultStructured(fakeWrite("applied"), ""), "applied", true},
		{"input request", inputRequest(), "preview", true},
		{"a list", mcp.NewToolResultStructured(map[string]any{"applied": true}, ""), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, write := writeOutcome(tc.result)
			if got != tc.want || write != tc.write {
				t.Errorf("writeOutcome = %q, %v; want %q, %v", got, write, tc.want, tc.write)
			}
		})
	}
}

func inputRequest() *mcp.CallToolResult {
	r := &mcp.CallToolResult{}
	r.ResultType = mcp.ResultTypeInputRequired
	return r
}
