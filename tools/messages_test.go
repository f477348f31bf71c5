package tools_test

import (
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestMessagesSayWhatIsTrue: errors that once misled the model.
func TestMessagesSayWhatIsTrue(t *testing.T) {
	ro := memdriver.New(memdriver.Config{Incidents: memdriver.Generate(3, 5, fixtureNow)})
	f := newFixtureTB(t, protocolVersions[0], setup{incidents: 60, extra: func(*demotest.Env) []*incidents.Instance {
		return []*incidents.Instance{{Name: "ro", Driver: ro, ReadOnly: true}}
	}})
	t.Run("read-only refusal blames no credentials", func(t *testing.T) {
		res, _ := f.call(t, tools.UpdateIncident, map[string]any{"id": "ro:" + ro.Incidents()[0].ID, "title": "x"})
		got := text(res)
		if !res.IsError || !strings.Contains(got, "read-only") || strings.Contains(got, "credentials") {
			t.Errorf("read-only refusal: %s", got)
		}
	})
	t.Run("fan-out cursor on one instance", func(t *testing.T) {
		_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": []string{"eset", "dlp"}, "page_size": 1})
		cursor, _ := sc["next_cursor"].(string)
		if cursor == "" {
			t.Fatalf("no cursor from a fan-out: %v", sc)
		}
		res, _ := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 1, "cursor": cursor})
		got := text(res)
		if !res.IsError || !strings.Contains(got, "several instances") || strings.Contains(got, "signature") {
			t.Errorf("fan-out cursor on one instance: %s", got)
		}
	})
	t.Run("DLP close without a resolution names DLP's", func(t *testing.T) {
		_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": "dlp", "status": []string{"open"}, "page_size": 1})
		id := sc["incidents"].([]any)[0].(map[string]any)["id"].(string)
		res, _ := f.call(t, tools.UpdateIncident, map[string]any{"id": id, "status": "closed"})
		got := text(res)
		if !res.IsError || !strings.Contains(got, "invalid_other") || strings.Contains(got, "suspicious") {
			t.Errorf("DLP close without a resolution: %s", got)
		}
	})
}
