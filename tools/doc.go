// Package tools defines the MCP tools (list_incidents, get_incident) and their
// handlers. It knows the incidents service and the normalized schema, never a
// concrete vendor: what a tool says about vendors comes from the drivers'
// Info.
package tools
