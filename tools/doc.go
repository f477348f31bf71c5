// Package tools is the MCP surface: the tools describe_instances,
// list_incidents (paged lists, fan-out over instances, counts with
// count_by), get_incident and update_incident (a preview, then a write
// confirmed by the user through a token or the client's elicitation), the
// server that registers them with the prompts, and the compact text they
// render.
//
// It knows the incidents service and the normalized schema, never a
// concrete vendor: what a tool says about vendors comes from the drivers'
// Info, and its argument enums come from schema's tables.
package tools
