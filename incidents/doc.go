// Package incidents is the portable, vendor-neutral service behind the tools.
//
// It routes a call to the configured instance, compiles the filter into one
// CEL program, asks the instance's driver for a native plan (pushdown), reads
// upstream pages, re-checks every normalized record with the program and
// fills the page; it signs cursors so that paging is stateless and honest.
// Pushdown narrows, the local check decides: whatever a vendor can or cannot
// express, the answer is the same.
package incidents
