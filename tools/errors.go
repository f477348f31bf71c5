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
