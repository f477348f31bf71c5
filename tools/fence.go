package tools

import (
	"strings"
	"unicode"
)

// Vendor free text (titles, descriptions, comments, names, tags, details)
// is data that attackers can write: a process name, a file name or an
// e-mail subject ends up in an incident title. The text rendering fences it
// between these marks so a model can tell it from the server's own words;
// the marks never occur inside a fence, so text cannot close its fence and
// speak as the server.
const (
	fenceOpen  = "⟦"
	fenceClose = "⟧"
)

// fence returns s, cleaned to one line, between the fence marks.
func fence(s string) string {
	return fenceOpen + clean(s, true) + fenceClose
}

// clean makes vendor text safe to show: control characters become a space
// (line breaks and tabs are kept unless oneLine), and what could change how
// the text reads without being visible — bidi overrides and isolates,
// zero-width characters, byte-order marks — and the fence marks are removed.
func clean(s string, oneLine bool) string {
	if !strings.ContainsFunc(s, needsCleaning) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case !oneLine && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case needsCleaning(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsCleaning(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x80:
		return false
	case r == '⟦' || r == '⟧':
		return true
	}
	// Cf holds the bidi controls (U+202A–U+202E, U+2066–U+2069, U+200E,
	// U+200F, U+061C), zero-width spaces and joiners and U+FEFF.
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}
