package filter

import (
	"github.com/incident-mcp/incident-mcp/schema"
	"testing"
)

// FuzzCompile: no `where` text or title value panics the compiler or the
// evaluator; compile either fails with an argument error or yields a program.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`incident.severity >= HIGH`, `"x" in incident.tags`, `incident.title.icontains("a") && now > incident.created_at`,
		`true) || (false`, `incident.devices.exists(d, d.id == "1")`, `size(incident.tags) > 2 // c`, "\x00", `"\u00e9"`,
	} {
		f.Add(s, "ransom")
	}
	inc := &schema.Incident{ID: "x:1", Title: "Ransomware on HOST", Severity: schema.SeverityHigh, Status: schema.StatusOpen, Tags: []string{"a"}, CreatedAt: benchNow}
	f.Fuzz(func(t *testing.T, where, title string) {
		p, err := Compile(schema.Filter{TitleContains: title}, where, benchNow)
		if err != nil {
			if schema.CodeOf(err) != schema.CodeInvalidArgument {
				t.Fatalf("Compile(%q) = %v, want an invalid-argument error", where, err)
			}
			return
		}
		if _, err := p.Match(t.Context(), inc); err != nil && schema.CodeOf(err) != schema.CodeInvalidArgument {
			t.Fatalf("Match: %v", err)
		}
	})
}
