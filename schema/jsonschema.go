package schema

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// reflector is the one JSON-schema reflector for tool arguments: schemas are
// inlined (no $defs, which some clients cannot follow) and unknown
// properties are refused.
var reflector = &jsonschema.Reflector{
	ExpandedStruct:             true,
	DoNotReference:             true,
	AllowAdditionalProperties:  false,
	RequiredFromJSONSchemaTags: true,
}

// InputSchema returns the JSON schema of a tool's argument struct.
func InputSchema[T any]() json.RawMessage {
	s := reflector.Reflect(new(T))
	s.Version = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schema of %T: %v", *new(T), err))
	}
	return b
}
