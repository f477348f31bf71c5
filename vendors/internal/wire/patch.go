package wire

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Unsupported refuses, with schema.CodeUnsupported naming the first such
// argument, every change of p that is not in updates; allowed says what the
// vendor's API can do instead.
func Unsupported(p schema.Patch, updates []schema.PatchField, vendor, allowed string) error {
	var refused []string
	for _, f := range p.Fields() {
		if !slices.Contains(updates, f) {
			refused = append(refused, string(f))
		}
	}
	if len(refused) == 0 {
		return nil
	}
	arg := refused[0]
	if arg == string(schema.PatchClose) || arg == string(schema.PatchReopen) {
		arg = "status"
	}
	e := schema.Errorf(schema.CodeUnsupported, "%s cannot change %s; %s", vendor, strings.Join(refused, ", "), allowed)
	e.Arg = arg
	return e
}

// CheckText refuses a free-text value longer than limit characters or not
// valid UTF-8.
func CheckText(arg string, v *string, limit int) error {
	if v == nil {
		return nil
	}
	if !utf8.ValidString(*v) {
		return schema.ArgError(arg, "the text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(*v); n > limit {
		return schema.ArgError(arg, "%d characters is too long: at most %d; shorten it", n, limit)
	}
	return nil
}
