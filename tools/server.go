package tools

import (
	"context"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/prompts"
)

// Options configure the server.
type Options struct {
	// ReadOnly removes update_incident from listing and calling.
	ReadOnly bool
	Update   UpdateOptions
}

// NewServer returns the MCP server with every tool over svc.
func NewServer(svc *incidents.Service, version string, log *slog.Logger, opts Options) *server.MCPServer {
	writable := !opts.ReadOnly && slices.ContainsFunc(svc.Instances(), func(in incidents.InstanceInfo) bool { return !in.ReadOnly })
	h := newUpdateHandler(svc, opts.Update)
	update, open := updateTool(svc, h)
	conf := prompts.Confirmation{ReadOnly: !writable,
		Elicitation: open.Has(approval.PathElicitation), Approval: open.Has(approval.PathApproval), Token: open.Has(approval.PathToken)}
	s := server.NewMCPServer("incident-mcp", version,
		server.WithToolCapabilities(false),
		server.WithInstructions(prompts.InstructionsFor(conf)),
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
	s.AddTools(Tools(svc, log)...)
	s.AddTool(update, h.handle)
	names := make([]string, 0, len(svc.Instances()))
	for _, in := range svc.Instances() {
		names = append(names, in.Name)
	}
	s.AddPrompts(prompts.New(names, !writable).WithConfirmation(conf).ServerPrompts()...)
	return s
}
