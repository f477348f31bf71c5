// Package schema is the normalized vocabulary every other package speaks: the
// Incident and its enums, the structured filter and the criteria it resolves
// to, the order of a list, the patch an update proposes, the portable error
// codes, and the one JSON-schema reflector for tool arguments. The filter
// language that runs over this vocabulary is package filter.
//
// Vendors map into this model (vendors/*), tools map out of it (tools); nothing
// here knows either.
package schema
