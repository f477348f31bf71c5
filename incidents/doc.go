// Package incidents is the portable, vendor-neutral service behind the tools.
//
// Reads: Query is the one entry point of a list question. It routes a
// call to one configured instance or fans it out over several (merging
// their pages in order, or counting) and answers with one QueryResult;
// related incidents (Related) and changes since a watermark (Feed) are
// questions of their own. It compiles the filter into one program, asks
// each instance's driver for a native plan (pushdown), reads upstream pages
// within a per-call budget, re-checks every normalized record and fills the
// page; cursors are sealed (Sealer) so that paging is stateless and honest.
// Pushdown narrows, the local check decides: whatever a vendor can or
// cannot express, the answer is the same.
//
// Writes: Preview validates a change against the vendor's rules, Seal
// issues a confirmation bound to that change and that state, and Apply
// writes it at most once (NonceStore, Locker), recording an intent and an
// outcome (applied, partial, failed or unknown) in the audit log.
//
// Its tests run on vendors/memdriver, without a simulator.
package incidents
