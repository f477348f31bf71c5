package wire

import (
	"net/url"
	"strconv"

	"github.com/incident-mcp/incident-mcp/schema"
)

// IDShape is what a vendor's native incident ids look like. A driver checks
// every id against its shape before the id reaches a request, so that an id
// cannot address another route (ESET's "<uuid>:close" custom verb, a "/" or
// "%2F" that adds a path segment) or widen a query.
type IDShape struct {
	// Vendor names the vendor in the message.
	Vendor string
	// Describe says what an id looks like, for the message.
	Describe string
	// Valid reports whether s has the shape.
	Valid func(s string) bool
}

// Check returns nil for an id of the shape, else a not_found error naming
// the argument id: no incident of the vendor can have that id, and nothing
// was sent.
func (sh IDShape) Check(native string) error {
	if sh.Valid(native) {
		return nil
	}
	return &schema.Error{Code: schema.CodeNotFound, Arg: "id", Msg: "no " + sh.Vendor + " incident has id " + quoteShort(native) +
		": " + sh.Vendor + " ids are " + sh.Describe + " (the part after the instance name in the ids list_incidents returns); nothing was sent"}
}

// Segment checks native against the shape and returns it escaped as one
// path segment.
func (sh IDShape) Segment(native string) (string, error) {
	if err := sh.Check(native); err != nil {
		return "", err
	}
	return url.PathEscape(native), nil
}

// quoteShort quotes s for a message, cut to a length a model can read.
func quoteShort(s string) string {
	const most = 80
	r := []rune(s)
	if len(r) > most {
		return strconv.Quote(string(r[:most])) + "…"
	}
	return strconv.Quote(s)
}

// IsUUID accepts the canonical 8-4-4-4-12 hex form, in any case.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// IsToken accepts 1 to max characters of [A-Za-z0-9._-], starting with a
// letter or digit: an opaque id ("incident-123") that is one path segment
// as it is, with nothing to escape.
func IsToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}
