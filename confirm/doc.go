// Package confirm is the confirmation state machine of incident writes: who
// may confirm a change, through which path, and whether a confirmation
// presented later is the one that was issued to the same principal for the
// same change.
//
// A write takes two calls. Propose previews the change for a principal and
// opens one confirmation path for it: the client's form (elicitation), the
// approval page, or a confirmation token, as the Policy and the client
// allow; it returns a Pending. Confirm takes the confirmation back (the
// elicitation answer with its request state, the token, or the approval
// id) and returns an Outcome: applied, declined, still pending, or a write
// that failed.
//
// Every confirmation is bound to the requesting principal's Key: the sealed
// request state and token carry it, and an approval request records it.
// Presented by any other principal, it is answered exactly as an unknown
// one. A requester never approves their own change (approval.IsRequester),
// and four-eyes counts approvers other than the requester.
//
// The vendor mechanics (reading and validating the change, single use,
// the incident's write lock, the audit intent and outcome) stay in
// incidents.Service; this package decides, the service writes.
package confirm
