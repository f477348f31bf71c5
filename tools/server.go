package tools

import (
	"context"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/prompts"
)

// Options configure the server.
type Options struct {
	// ReadOnly removes update_incident from listing and calling.
	ReadOnly bool
	Update   UpdateOptions
	// Apps offers the MCP Apps views (apps package) to clients that
	// declare the extension; other clients see no difference.
	Apps bool
	// PrivateLists marks tools/list, prompts/list and resources/list
	// private in their cache hints: set it when what a caller sees depends
	// on who they are (authentication, per-caller access).
	PrivateLists bool
}

// NewServer returns the MCP server with every tool over svc.
func NewServer(svc *incidents.Service, version string, log *slog.Logger, opts Options) *server.MCPServer {
	writable := !opts.ReadOnly && slices.ContainsFunc(svc.Instances(), func(in incidents.InstanceInfo) bool { return !in.ReadOnly })
	s := server.NewMCPServer("incident-mcp", version,
		server.WithToolCapabilities(false),
		server.WithInstructions(prompts.Instructions),
		server.WithPromptCapabilities(false),
		server.WithRecovery(),
		// The filter is an access boundary in mcp-go: a tool it hides can
		// neither be listed nor called. Read-only mode is enforced here,
		// not only by leaving the tool out.
		server.WithToolFilter(func(_ context.Context, tools []mcp.Tool) []mcp.Tool {
			if writable {
				return tools
			}
			return slices.DeleteFunc(tools, func(t mcp.Tool) bool { return t.Name == UpdateIncident })
		}),
	)
	for _, o := range cacheHints(opts.PrivateLists) {
		o(s)
	}
	ts := Tools(svc, log)
	h := newUpdateHandler(svc, opts.Update)
	ut := updateTool(svc, h)
	if opts.Apps {
		ts, ut = withApps(s, svc, log, ts, ut)
	}
	s.AddTools(ts...)
	s.AddTool(ut, h.handle)
	names := make([]string, 0, len(svc.Instances()))
	for _, in := range svc.Instances() {
		names = append(names, in.Name)
	}
	s.AddPrompts(prompts.New(names, !writable).ServerPrompts()...)
	return s
}
