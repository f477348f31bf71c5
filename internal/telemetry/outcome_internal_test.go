package telemetry

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestWriteOutcomePending: a write waiting on the approval page is pending,
// not declined; a refusal is still declined.
func TestWriteOutcomePending(t *testing.T) {
	for _, tc := range []struct {
		content map[string]any
		want    string
	}{
		{map[string]any{"applied": false, "approval": map[string]any{"id": "a", "state": "pending"}}, "pending"},
		{map[string]any{"applied": false, "id": "x", "reason": "the user declined"}, "declined"},
		{map[string]any{"applied": true}, "applied"},
		{map[string]any{"applied": false, "preview": map[string]any{}}, "preview"},
	} {
		if got := writeOutcome(mcp.NewToolResultStructured(tc.content, "")); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.content, got, tc.want)
		}
	}
}
