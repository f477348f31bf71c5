// Package kasperskysim is an in-memory HTTP simulator of the Kaspersky Next XDR Expert
// (Open Single Management Platform) incidents REST API. Its one job is to stand in for a
// real console in tests, benchmarks and the --demo mode, so it models the vendor's rules
// (auth, tenants and rights, filters, paging, the close lifecycle, error bodies) rather
// than answering whatever a driver hopes for. Production code never uses it.
//
// Served routes:
//
//	GET  /xdr/api/v1/tenants         tenants the token can read
//	GET  /xdr/api/v1/incidents       list: page, tenantID, id, status, name, timestampField, from, to, withAffected, withHistory
//	POST /xdr/api/v1/incidents/close body [{ID, TenantID, Reason}] → 204
//
// Errors are the vendor's JSON body {"message": …, "details": …}.
//
// # The name filter: PCRE in the docs, RE2 here
//
// The vendor documents `name` as a Perl Compatible Regular Expression. The simulator
// compiles it with Go's regexp (RE2 syntax), matched anywhere in the name (unanchored)
// and case-sensitively unless the pattern says (?i). The two agree on the subset a
// careful client sends: literals, escaped punctuation (`\.`, `\(`, `\ `), classes,
// alternation, anchors, repetition, (?i), and `\x{hh}` for a character by code point.
// RE2 lacks what PCRE has beyond that: backreferences (\1), lookahead and lookbehind
// ((?=…), (?!…), (?<=…)), possessive quantifiers, atomic groups, recursion and \Q…\E
// inside classes; such patterns are rejected here with 400 "invalid name", where the
// real console might accept them. Without (?m), `$` matches only at the very end here,
// while PCRE's also matches before a final newline; titles rarely end in one. RE2 also rejects escapes of letters and digits that
// mean nothing (`\q`), which PCRE treats as the literal. A client that escapes every
// ASCII character that is not a letter, digit or underscore with a backslash, and
// control characters as \x{hh}, gets the same matches from both.
//
// # Unverified assumptions
//
// Where the vendor's documents are silent the simulator takes the tolerant reading and
// names it: both ends of the from/to window are inclusive (FromInclusive, ToInclusive);
// the list is ordered newest first by the timestampField, CreatedAt when none, ties by
// InternalID (OrderNewestFirst); a tenantID filter matches incidents owned by exactly
// that tenant, not its subtenants; the tenant list hides subtenant ids the token cannot
// read; withAffected/withHistory are on whenever present, whatever their value.
package kasperskysim
