package tools_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/incident-mcp/incident-mcp/tools"
)

// TestInstanceCommaList: instance is a string so that it can travel in
// Mcp-Param-Instance; several instances are comma-separated, and a list
// from an earlier client still means the same.
func TestInstanceCommaList(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	for _, arg := range []any{"eset,kaspersky", []any{"eset", "kaspersky"}} {
		_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": arg, "page_size": 2})
		b, _ := json.Marshal(sc["query"].(map[string]any)["instances"])
		var got []string
		json.Unmarshal(b, &got)
		if !slices.Equal(got, []string{"eset", "kaspersky"}) {
			t.Errorf("instance %v listed %v, want eset and kaspersky", arg, got)
		}
	}
}
