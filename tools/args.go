package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/schema"
)

// GetArgs are the arguments of get_incident.
type GetArgs struct {
	ID         string   `json:"id" jsonschema:"required" jsonschema_description:"The incident id as list_incidents returns it: '<instance>:<native id>'."`
	IncludeRaw bool     `json:"include_raw,omitempty" jsonschema_description:"Also return the vendor's own record under 'raw'. Large; only when the normalized fields are not enough."`
	Include    []string `json:"include,omitempty" jsonschema_description:"Sections to add."`
	Limit      *int     `json:"limit,omitempty" jsonschema:"minimum=1,maximum=50" jsonschema_description:"Per section (10)."`
}

// bind decodes a call's arguments into T, refusing unknown ones with the
// list of valid names.
func bind[T any](req mcp.CallToolRequest) (*T, error) {
	// A call that came over the wire keeps its arguments' JSON: decode it
	// as it came instead of encoding the library's map of it again.
	raw, ok := req.GetRawArguments().(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(req.GetRawArguments()); err != nil {
			return nil, schema.ArgError("arguments", "unreadable arguments: %v", err)
		}
	}
	out := new(T)
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		names := argNames[T]()
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, schema.ArgError(strings.Trim(field, `"`), "unknown argument; valid arguments are %s", strings.Join(names, ", "))
		}
		if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, schema.ArgError(ute.Field, "expected %s, got a JSON %s", ute.Type, ute.Value)
		}
		return nil, schema.ArgError("arguments", "%v; valid arguments are %s", err, strings.Join(names, ", "))
	}
	return out, nil
}

func argNames[T any]() []string {
	t := reflect.TypeFor[T]()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
