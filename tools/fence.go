package tools

import (
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
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

// clean makes text safe to show: schema's sanitizer (the one incidents
// pass at normalization; here again for text that did not, such as the
// user's own values in a preview), on one line when oneLine, and the fence
// marks removed.
func clean(s string, oneLine bool) string {
	if oneLine {
		s = schema.CleanLine(s)
	} else {
		s = schema.CleanText(s)
	}
	if strings.ContainsAny(s, fenceOpen+fenceClose) {
		s = strings.NewReplacer(fenceOpen, "", fenceClose, "").Replace(s)
	}
	return s
}
