package schema

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Vendor text is data attackers can write (a file name, a process name, an
// e-mail subject ends up in a title), and it reaches a model and people
// through many paths: list records, get, counts by value, the text
// renderings, the approval page. It is sanitized once, when the service
// takes an incident from a driver (Incident.Clean), so that every path
// shows the same text:
//
//   - one-line fields (title, names, ids, tags, vendor enums): every control
//     character, tab and line break included, becomes a space;
//   - multi-line fields (description, text values of details): line breaks
//     and tabs are kept (CR LF becomes LF), other control characters become
//     a space;
//   - in both, characters that change how text reads without being seen —
//     bidi overrides, embeddings, isolates and marks, zero-width spaces and
//     joiners, the byte-order mark, every other format character (Unicode
//     category Cf) — are removed, and the line and paragraph separators
//     U+2028 and U+2029 become a space.
//
// The vendor's own record (Raw) is not rewritten but escaped (EscapeRaw).

// CleanLine sanitizes one-line vendor text.
func CleanLine(s string) string { return cleanText(s, true) }

// CleanText sanitizes multi-line vendor text.
func CleanText(s string) string { return cleanText(s, false) }

func cleanText(s string, oneLine bool) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return needsCleaning(r, oneLine) }) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch {
		case r == '\r' && !oneLine && strings.HasPrefix(s[i+1:], "\n"):
			// CR LF is one line break.
		case !oneLine && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case invisible(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsCleaning(r rune, oneLine bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return oneLine
	case r < 0x20 || r == 0x7f:
		return true
	case r < 0x80:
		return false
	}
	return unicode.IsControl(r) || invisible(r) || r == '\u2028' || r == '\u2029'
}

// invisible reports a format character: Cf holds the bidi controls
// (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), the zero-width
// space, joiners and U+FEFF, and the tag characters.
func invisible(r rune) bool { return r >= 0x80 && unicode.Is(unicode.Cf, r) }

// Clean sanitizes every vendor text field of inc in place, as the package
// comment says; Raw is left as it is.
func (inc *Incident) Clean() {
	for _, p := range []*string{&inc.Tenant, &inc.Number, &inc.Title, &inc.VendorSeverity, &inc.VendorStatus, &inc.Priority} {
		*p = CleanLine(*p)
	}
	inc.Description = CleanText(inc.Description)
	for _, refs := range [][]Ref{inc.Devices, inc.Users} {
		for i := range refs {
			refs[i].clean()
		}
	}
	inc.Assignee.clean()
	inc.Policy.clean()
	for _, list := range [][]string{inc.Tags, inc.DetectionIDs, inc.AlertIDs} {
		for i := range list {
			list[i] = CleanLine(list[i])
		}
	}
	if inc.Mitre != nil {
		for _, list := range [][]string{inc.Mitre.Tactics, inc.Mitre.Techniques} {
			for i := range list {
				list[i] = CleanLine(list[i])
			}
		}
	}
	if inc.Details != nil {
		inc.Details = cleanAny(inc.Details).(map[string]any)
	}
}

func (r *Ref) clean() {
	if r != nil {
		r.ID, r.Name = CleanLine(r.ID), CleanLine(r.Name)
	}
}

// cleanAny sanitizes the strings of a decoded JSON value: keys as one line,
// values as multi-line text.
func cleanAny(v any) any {
	switch v := v.(type) {
	case string:
		return CleanText(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[CleanLine(k)] = cleanAny(x)
		}
		return out
	case []any:
		for i := range v {
			v[i] = cleanAny(v[i])
		}
		return v
	case []string:
		for i := range v {
			v[i] = CleanText(v[i])
		}
		return v
	}
	return v
}

// EscapeRaw returns a vendor's JSON record with every control, bidi and
// zero-width (format) character inside its strings written as visible
// text: the six characters \u202E in place of U+202E, \n in place of a
// line break, whether the vendor sent the character itself or its JSON
// escape. The result is valid JSON that, once decoded, holds no such
// character live; everything else is byte for byte the vendor's.
func EscapeRaw(raw []byte) []byte {
	if !rawNeedsEscape(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw)+32)
	inString := false
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case !inString:
			if c == '"' {
				inString = true
			}
			out = append(out, c)
			i++
		case c == '"':
			inString = false
			out = append(out, c)
			i++
		case c == '\\' && i+1 < len(raw):
			switch e := raw[i+1]; e {
			case 'b', 'f', 'n', 'r', 't':
				out = append(out, '\\', '\\', e)
				i += 2
			case 'u':
				r, n := decodeEscape(raw[i:])
				if n > 0 && (r < 0x20 || r == 0x7f || unicode.IsControl(r) || invisible(r) || r == '\u2028' || r == '\u2029') {
					out = appendVisible(out, r)
					i += n
					continue
				}
				out = append(out, c, e)
				i += 2
			default:
				out = append(out, c, e)
				i += 2
			}
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r < 0x20 || r == 0x7f || unicode.IsControl(r) || invisible(r) || r == '\u2028' || r == '\u2029' {
				out = appendVisible(out, r)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out
}

// rawNeedsEscape is the fast path: most records hold none of it.
func rawNeedsEscape(raw []byte) bool {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < 0x80 {
			if c < 0x20 || c == 0x7f || c == '\\' && i+1 < len(raw) && strings.IndexByte("bfnrtu", raw[i+1]) >= 0 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if unicode.IsControl(r) || invisible(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
		i += size
	}
	return false
}

// decodeEscape reads \uXXXX (and its low surrogate, when it is a high one)
// at the start of b: the rune and how many bytes it took, 0 when malformed.
func decodeEscape(b []byte) (rune, int) {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range b[2:6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	r, ok := hex(b)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex(b[6:]); ok {
			if full := utf16.DecodeRune(r, lo); full != unicode.ReplacementChar {
				return full, 12
			}
		}
	}
	return r, 6
}

// appendVisible writes r as escaped text that decodes to a backslash
// sequence, not to r.
func appendVisible(out []byte, r rune) []byte {
	switch r {
	case '\n':
		return append(out, `\\n`...)
	case '\r':
		return append(out, `\\r`...)
	case '\t':
		return append(out, `\\t`...)
	}
	if r > 0xFFFF {
		hi, lo := utf16.EncodeRune(r)
		return fmt.Appendf(out, `\\u%04X\\u%04X`, hi, lo)
	}
	return fmt.Appendf(out, `\\u%04X`, r)
}
