package schema_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/incident-mcp/incident-mcp/schema"
)

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		name, in, line, text string
	}{
		{"plain", "Ransomware on host-7", "Ransomware on host-7", "Ransomware on host-7"},
		{"tab", "Tab\tseparated", "Tab separated", "Tab\tseparated"},
		{"line breaks", "one\r\ntwo\nthree\rfour", "one  two three four", "one\ntwo\nthree four"},
		{"controls", "a\x00b\x1bc\x7fd\u0085e", "a b c d e", "a b c d e"},
		{"bidi override", "invoice\u202Egpj.exe", "invoicegpj.exe", "invoicegpj.exe"},
		{"isolates and marks", "\u2066x\u2069\u200Ey\u200F\u061C", "xy", "xy"},
		{"zero width", "pay\u200Bpal\u200C\u200D\u2060\uFEFF", "paypal", "paypal"},
		{"tag characters", "a\U000E0041b", "ab", "ab"},
		{"separators", "a\u2028b\u2029c", "a b c", "a b c"},
		{"kept", "Zürich — 東京 ✓", "Zürich — 東京 ✓", "Zürich — 東京 ✓"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := schema.CleanLine(tc.in); got != tc.line {
				t.Errorf("CleanLine(%q) = %q, want %q", tc.in, got, tc.line)
			}
			if got := schema.CleanText(tc.in); got != tc.text {
				t.Errorf("CleanText(%q) = %q, want %q", tc.in, got, tc.text)
			}
		})
	}
}

// live reports a character that EscapeRaw must not leave in decoded text.
func live(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
	})
}

func TestEscapeRaw(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"nothing to do", `{"Name":"a \"b\" \\ c","n":1.50}`, ""},
		{"escaped newline", `{"Name":"a\nb"}`, `a\nb`},
		{"escaped bidi", `{"Name":"x\u202Ey"}`, `x\u202Ey`},
		{"raw bidi", "{\"Name\":\"x\u202Ey\"}", `x\u202Ey`},
		{"raw zero width", "{\"Name\":\"pay\u200Bpal\"}", `pay\u200Bpal`},
		{"escaped tag character", `{"Name":"a\uDB40\uDC41b"}`, `a\uDB40\uDC41b`},
		{"escaped backslash before n", `{"Name":"a\\nb"}`, `a\nb`},
		{"in a key", "{\"N\u200Bame\":\"v\"}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := schema.EscapeRaw([]byte(tc.raw))
			if !json.Valid(got) {
				t.Fatalf("EscapeRaw(%s) = %s: not JSON", tc.raw, got)
			}
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatal(err)
			}
			for k, x := range v {
				if live(k) || live(strings.TrimSpace(toString(x))) {
					t.Errorf("EscapeRaw(%s) = %s: still live after decoding", tc.raw, got)
				}
				if tc.want != "" && x != tc.want {
					t.Errorf("EscapeRaw(%s) decodes to %q, want %q", tc.raw, x, tc.want)
				}
			}
			if tc.name == "nothing to do" && string(got) != tc.raw {
				t.Errorf("a clean record changed: %s", got)
			}
		})
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func FuzzEscapeRaw(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"\u202e\n"}`, "{\"a\":\"\u200b\"}", `["\uD83D\uDE00","\uDB40\uDC01"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		got := schema.EscapeRaw([]byte(s))
		if !json.Valid(got) {
			t.Fatalf("EscapeRaw(%q) = %q: not JSON", s, got)
		}
		var v any
		json.Unmarshal(got, &v)
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				if live(v) {
					t.Fatalf("EscapeRaw(%q) decodes with a live character: %q", s, v)
				}
			case map[string]any:
				for k, x := range v {
					if live(k) {
						t.Fatalf("EscapeRaw(%q): key %q", s, k)
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(v)
	})
}
