package tools_test

import (
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/tools"
)

// TestTextHasNoJSONEscapes: the text a model reads shows native requests
// as written ("create_time >= … &&"), never \u003e or \u0026, and counts
// its requests in proper English.
func TestTextHasNoJSONEscapes(t *testing.T) {
	f := newFixture(t, protocolVersions[1])
	res, _ := f.call(t, tools.ListIncidents, map[string]any{"created_after": "3d", "min_severity": "high", "page_size": 1})
	if res.IsError {
		t.Fatal(text(res))
	}
	got := text(res)
	if strings.Contains(got, `\u00`) {
		t.Errorf("JSON escapes in the text:\n%s", got)
	}
	if !strings.Contains(got, ">=") && !strings.Contains(got, "&&") {
		t.Errorf("no native request with a comparison in the text:\n%s", got)
	}
	if strings.Contains(got, " 1 requests") {
		t.Errorf("\"1 requests\" in the text:\n%s", got)
	}
}
