// Package schema is the normalized vocabulary every other package speaks: the
// Incident and its enums, the structured filter and the CEL filter language
// over it, the query the service takes, the patch an update proposes, the
// portable error codes, and the one JSON-schema reflector for tool arguments.
//
// Vendors map into this model (vendors/*), tools map out of it (tools); nothing
// here knows either.
package schema
