package tools

import (
	"errors"

	"github.com/incident-mcp/incident-mcp/schema"
)

// errorRef is the first correlation id along the chain: the model shows it
// to the user, and the operator finds the full error under it in the log.
func errorRef(e *schema.Error) string {
	for e != nil {
		if e.Ref != "" {
			return e.Ref
		}
		inner, ok := errors.AsType[*schema.Error](e.Err)
		if !ok {
			return ""
		}
		e = inner
	}
	return ""
}

// publicText is what the model may read of err: the portable messages and
// the ref, never the text of a wrapped vendor error.
func publicText(err error) string {
	e, ok := errors.AsType[*schema.Error](err)
	if !ok {
		return "internal error; the server log has the details"
	}
	return e.Public()
}
