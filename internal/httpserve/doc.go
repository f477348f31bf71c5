// Package httpserve serves an MCP server over streamable HTTP for a team:
// bearer-token or OAuth 2.1 (JWT resource server) authentication in front of
// mcp-go's streamable HTTP handler, Origin and Host allow-lists, a request
// body cap, server timeouts that spare long-lived SSE streams, idle-session
// reaping, TLS with certificate reload, and a graceful shutdown that lets
// in-flight calls finish.
//
// The authenticated caller reaches the tools through package caller.
package httpserve
