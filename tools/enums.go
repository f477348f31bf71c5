package tools

import (
	"fmt"

	"github.com/invopop/jsonschema"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// The enums of the tools' arguments come from the tables that define each
// vocabulary (schema's severities and statuses, the service's count
// dimensions), so a value added there reaches the tool schemas without a
// second edit. The reflector calls these hooks on the argument structs.

// JSONSchemaExtend fills list_incidents' enums.
func (ListArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	setEnum(s, "severity", schema.Severities)
	setEnum(s, "min_severity", schema.Severities)
	setEnum(s, "status", schema.Statuses)
	setEnum(s, "count_by", incidents.CountDimensions)
}

// JSONSchemaExtend fills get_incident's enum of sections.
func (GetArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	setEnum(s, "include", driver.AllSections)
}

// JSONSchemaExtend fills update_incident's enums: a write sets a status
// only by closing or reopening.
func (UpdateArgs) JSONSchemaExtend(s *jsonschema.Schema) {
	setEnum(s, "severity", schema.Severities)
	setEnum(s, "status", []schema.Status{schema.StatusClosed, schema.StatusOpen})
}

// setEnum sets the enum of property prop (of its items, for an array).
func setEnum[T ~string](s *jsonschema.Schema, prop string, vals []T) {
	p, ok := s.Properties.Get(prop)
	if !ok {
		panic(fmt.Sprintf("tool arguments have no property %q", prop))
	}
	if p.Type == "array" {
		p = p.Items
	}
	p.Enum = make([]any, len(vals))
	for i, v := range vals {
		p.Enum[i] = string(v)
	}
}
