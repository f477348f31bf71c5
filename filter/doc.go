// Package filter is the filter language over the normalized incident: it
// compiles the structured filter and the CEL `where` expression into a
// Program, bounds what one expression may cost, caches compiled
// expressions, and re-checks every record the vendors return against the
// exact query, so that a vendor's looser filter never leaks a record.
//
// The vocabulary it works on (Incident, Filter, Criteria, Order) lives in
// package schema; drivers translate Criteria into vendor queries and the
// service runs Program.Match on what comes back. A Language adds to the
// normalized resolutions the verbatim ones of the configured vendors: the
// service builds one from its instances' driver.Info and compiles with it.
package filter
