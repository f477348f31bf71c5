package incidents_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestVendorTextSanitizedOnce: a title with a tab, a bidi override and a
// zero-width space reads the same in list records, get and counts, and the
// raw record carries those characters escaped, not live.
func TestVendorTextSanitizedOnce(t *testing.T) {
	recs := memdriver.Generate(1, 3, now)
	recs[0].Title = "Tab\tseparated \u202Eexe.pdf\u200B"
	recs[0].Description = "line one\r\nline\ttwo\u2066"
	recs[0].Tags = []string{"x\u200By"}
	d := memdriver.New(memdriver.Config{Incidents: recs})
	svc, err := incidents.New([]*incidents.Instance{{Name: "mem", Driver: d}}, testSealer(t), slog.New(slog.DiscardHandler), incidents.WithClock(newClock().Now))
	if err != nil {
		t.Fatal(err)
	}
	const title, desc = "Tab separated exe.pdf", "line one\nline\ttwo"
	id := "mem:" + recs[0].ID

	list, err := svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{"mem"}, Filter: schema.Filter{IDs: []string{id}}})
	if err != nil || len(list.Incidents) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	got, err := svc.Get(t.Context(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, title, desc string }{
		{"list", list.Incidents[0].Title, list.Incidents[0].Description},
		{"get", got.Title, got.Description},
	} {
		if c.title != title || (c.path == "get" && c.desc != desc) {
			t.Errorf("%s: title %q description %q, want %q and %q", c.path, c.title, c.desc, title, desc)
		}
	}
	counts, err := svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{"mem"}, Filter: schema.Filter{IDs: []string{id}}, CountBy: []string{"tags"}})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Counts["tags"]["xy"] != 1 {
		t.Errorf("counts by tag: %v, want xy: 1", counts.Counts["tags"])
	}
	// memdriver's raw record is its own JSON of the unsanitized incident.
	var raw map[string]any
	if err := json.Unmarshal(got.Raw, &raw); err != nil {
		t.Fatalf("raw is not JSON: %s", got.Raw)
	}
	name, _ := raw["title"].(string)
	if name != `Tab\tseparated \u202Eexe.pdf\u200B` || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		t.Errorf("raw title decodes to %q: the tab, the override and the zero-width space must be visible escapes", name)
	}
}
