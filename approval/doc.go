// Package approval lets a human approve an incident change out of band, in a
// browser, where the model that asked for the change cannot follow.
//
// A confirmation token handed to the model proves that a change was
// previewed, not that a person agreed to it: the model (or an instruction
// hidden in an incident's text) can simply call again. An approval request
// instead parks the sealed change in a Store under an unguessable id; the
// server shows its page at /approve/{id} to an authenticated approver (a
// credentials file distinct from the MCP client tokens, or the documented
// demo approver), who approves or rejects it with a CSRF-protected POST. Only
// then can the MCP side apply the change, once.
//
// Policy decides, per instance and per kind of change, which confirmation
// paths are allowed (form elicitation in the client, this approval page, the
// model-relayed token) and how many distinct approvers a change needs.
package approval
