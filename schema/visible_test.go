package schema_test

import (
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
)

func TestVisible(t *testing.T) {
	for _, tc := range []struct {
		name, in, want     string
		multiline, changed bool
	}{
		{"plain", "Benign reviewed", "Benign reviewed", false, false},
		{"unicode text stays", "Zürich – 東京", "Zürich – 東京", false, false},
		{"bidi override", "Benign: \u202eexe.llik\u202c ok", "Benign: ⟨U+202E⟩exe.llik⟨U+202C⟩ ok", false, true},
		{"isolates and marks", "a\u2066b\u2069\u200fc\u061c", "a⟨U+2066⟩b⟨U+2069⟩⟨U+200F⟩c⟨U+061C⟩", false, true},
		{"zero width", "pay\u200bpal\u200d\ufeff", "pay⟨U+200B⟩pal⟨U+200D⟩⟨U+FEFF⟩", false, true},
		{"controls", "a\x00b\x1bc\x7f\u0085", "a⟨U+0000⟩b⟨U+001B⟩c⟨U+007F⟩⟨U+0085⟩", false, true},
		{"line breaks one line", "a\nb\tc\u2028", "a⟨U+000A⟩b⟨U+0009⟩c⟨U+2028⟩", false, true},
		{"line breaks multiline", "a\nb\tc", "a\nb\tc", true, false},
		{"multiline still shows bidi", "a\n\u202e", "a\n⟨U+202E⟩", true, true},
		{"tag characters", "x\U000E0041", "x⟨U+E0041⟩", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := schema.Visible(tc.in, tc.multiline)
			if got != tc.want || changed != tc.changed {
				t.Errorf("Visible(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}
