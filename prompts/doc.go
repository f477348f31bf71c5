// Package prompts holds the MCP prompts (prompts/list, prompts/get) an
// assistant offers its user — triage, investigate, report,
// close_false_positive, handoff — and the server instructions. The texts are
// embedded templates; their arguments are typed and validated before a
// template runs, and every tool call a template writes is rendered from Go
// values as JSON, so a prompt can only name calls that parse.
package prompts
