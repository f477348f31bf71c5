package tools_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestResolutionVocabularyFollowsVendors: a `where` may name DLP's own
// close reasons only where a DLP instance is configured, and a made-up
// vendor's only where that vendor is; elsewhere the value is refused like
// a misspelling, with the values that exist.
func TestResolutionVocabularyFollowsVendors(t *testing.T) {
	dlpOwn := []string{"invalid_destination_not_risk", "invalid_user_exempt", "invalid_other"}
	// found lists the resolutions of the incidents a where selects on
	// instance, or fails with the tool's error text.
	found := func(t *testing.T, f *fixture, instance, where string) ([]string, string) {
		t.Helper()
		res, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": instance, "where": where, "page_size": 100})
		if res.IsError {
			return nil, text(res)
		}
		var out []string
		for _, inc := range sc["incidents"].([]any) {
			id := inc.(map[string]any)["id"].(string)
			_, full := f.call(t, tools.GetIncident, map[string]any{"id": id})
			r, _ := full["resolution"].(string)
			out = append(out, r)
		}
		return out, ""
	}

	t.Run("with DLP", func(t *testing.T) {
		f := newFixtureTB(t, protocolVersions[0], setup{incidents: 60})
		for _, where := range []string{
			`incident.resolution in ["invalid_destination_not_risk", "invalid_user_exempt", "invalid_other"]`,
			`incident.resolution in [INVALID_DESTINATION_NOT_RISK, INVALID_USER_EXEMPT, INVALID_OTHER]`,
		} {
			got, errText := found(t, f, "dlp", where)
			if errText != "" {
				t.Fatalf("%s: %s", where, errText)
			}
			if len(got) == 0 || slices.ContainsFunc(got, func(r string) bool { return !slices.Contains(dlpOwn, r) }) {
				t.Errorf("%s found resolutions %v, want some, each of DLP's own", where, got)
			}
		}
	})

	own := memdriver.New(memdriver.Config{Vendor: "own", Incidents: memdriver.Generate(5, 40, fixtureNow), Resolutions: []schema.Resolution{"benign_by_policy"}})
	for _, inc := range own.Incidents()[:3] {
		if err := own.Modify(inc.ID, func(in *schema.Incident) { in.Status, in.Resolution = schema.StatusClosed, "benign_by_policy" }); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("without DLP, with a made-up vendor", func(t *testing.T) {
		f := newFixtureTB(t, protocolVersions[0], setup{mem: true, incidents: 60, extra: func(*demotest.Env) []*incidents.Instance {
			return []*incidents.Instance{{Name: "own", Driver: own}}
		}})
		_, errText := found(t, f, "mem-paged", `incident.resolution == "invalid_other"`)
		want := `incident.resolution is never "invalid_other"; its values are "true_positive", "false_positive", "suspicious", "low_priority", "merged", "benign_by_policy"`
		if !strings.Contains(errText, want) {
			t.Errorf("DLP's value without DLP: %q, want it refused with %q", errText, want)
		}
		got, errText := found(t, f, "own", `incident.resolution == BENIGN_BY_POLICY`)
		if errText != "" || len(got) != 3 || slices.ContainsFunc(got, func(r string) bool { return r != "benign_by_policy" }) {
			t.Errorf("the made-up vendor's value: %v %s, want its 3 incidents", got, errText)
		}
	})
}
