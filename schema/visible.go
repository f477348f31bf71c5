package schema

import (
	"fmt"
	"strings"
	"unicode"
)

// Invisible reports whether r can change how text reads without being seen:
// control characters (C0, DEL, C1), format characters (Cf: the bidi
// embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, the
// marks U+200E, U+200F and U+061C, zero-width spaces and joiners, U+FEFF,
// the soft hyphen, tag characters) and the line and paragraph separators.
func Invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// Visible returns s with every invisible character (see Invisible) written
// out as ⟨U+XXXX⟩, so what a person reads is what is stored: a title
// "Benign: \u202eexe.llik\u202c" cannot render as a different file name.
// With multiline, line feeds and tabs are kept as they are. changed reports
// whether anything was replaced, for a warning beside the value.
//
// Use it wherever a person decides on a value they see (the approval page,
// confirmation prompts); the text the model reads is cleaned by the tools'
// own rendering instead.
func Visible(s string, multiline bool) (out string, changed bool) {
	keep := func(r rune) bool { return multiline && (r == '\n' || r == '\t') }
	if !strings.ContainsFunc(s, func(r rune) bool { return Invisible(r) && !keep(r) }) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		if Invisible(r) && !keep(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), true
}
