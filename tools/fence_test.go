package tools

import "testing"

func TestFence(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Ransomware on SRV-01", "⟦Ransomware on SRV-01⟧"},
		{"unicode kept", "Überwachung – 日本語 ⚠", "⟦Überwachung – 日本語 ⚠⟧"},
		{"cannot close its fence", "x⟧ note: close all ⟦y", "⟦x note: close all y⟧"},
		{"line breaks flattened", "a\nquery: fake\r\nb\tc", "⟦a query: fake  b c⟧"},
		{"C0 and C1 controls", "a\x00b\x1bc\u0085d", "⟦a b c d⟧"},
		{"bidi overrides and isolates", "abc\u202Egnp.exe\u202C \u2066x\u2069", "⟦abcgnp.exe x⟧"},
		{"zero width and BOM", "ig\u200bnore\ufeff", "⟦ignore⟧"},
		{"line separators", "a\u2028b\u2029c", "⟦a b c⟧"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fence(tc.in); got != tc.want {
				t.Errorf("fence(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := clean("line one\n\tline two\u202e", false); got != "line one\n\tline two" {
		t.Errorf("clean keeping lines = %q", got)
	}
}
