package schema

import (
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
	inc := &Incident{ID: "x:1", Title: "Ransomware on HOST", Severity: SeverityHigh, Status: StatusOpen, Tags: []string{"a"}, CreatedAt: benchNow}
	f.Fuzz(func(t *testing.T, where, title string) {
		p, err := Compile(Filter{TitleContains: title}, where, benchNow)
		if err != nil {
			if CodeOf(err) != CodeInvalidArgument {
				t.Fatalf("Compile(%q) = %v, want an invalid-argument error", where, err)
			}
			return
		}
		if _, err := p.Match(t.Context(), inc); err != nil && CodeOf(err) != CodeInvalidArgument {
			t.Fatalf("Match: %v", err)
		}
	})
}
