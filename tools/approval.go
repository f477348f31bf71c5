package tools

// approvalStatePrefix marks the request state of a URL elicitation: the
// approval request's id. It grants nothing by itself; the engine checks
// that the request is the caller's own and that a human approved it.
const approvalStatePrefix = "approval:"

// approveID keys the URL elicitation in an input request.
const approveID = "approve"
