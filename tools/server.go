package tools

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/prompts"
	"github.com/incident-mcp/incident-mcp/schema"
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
	h := newUpdateHandler(svc, opts.Update)
	update, open := updateTool(svc, h)
	conf := prompts.Confirmation{ReadOnly: !writable,
		Elicitation: open.Has(approval.PathElicitation), Approval: open.Has(approval.PathApproval), Token: open.Has(approval.PathToken)}
	s := server.NewMCPServer("incident-mcp", version,
		server.WithToolCapabilities(false),
		server.WithInstructions(prompts.InstructionsFor(conf)),
		server.WithPromptCapabilities(false),
		server.WithRecovery(),
		// A prompt whose workflow writes is offered only to a caller who
		// may change something.
		server.WithPromptFilter(func(ctx context.Context, ps []mcp.Prompt) []mcp.Prompt {
			if svc.Access() == nil || callerWrites(ctx, svc) {
				return ps
			}
			return slices.DeleteFunc(ps, func(p mcp.Prompt) bool { return prompts.Writes(p.Name) })
		}),
		// The filter is an access boundary in mcp-go: a tool it hides can
		// neither be listed nor called (the call gets the same "not found"
		// as a tool that does not exist). Read-only mode and each caller's
		// access rules are enforced here, not only by leaving tools out.
		server.WithToolFilter(func(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
			if !writable {
				tools = slices.DeleteFunc(tools, func(t mcp.Tool) bool { return t.Name == UpdateIncident })
			}
			if svc.Access() == nil {
				return tools
			}
			return callerTools(ctx, svc, h, tools)
		}),
	)
	if svc.Access() != nil {
		auditHiddenCalls(s, svc, h)
	}
	for _, o := range cacheHints(opts.PrivateLists) {
		o(s)
	}
	ts := Tools(svc, log)
	ut := update
	if opts.Apps {
		ts, ut = withApps(s, svc, log, ts, ut)
		ts = withViewApproval(s, svc, h, ts)
	}
	s.AddTools(ts...)
	s.AddTool(ut, h.handle)
	names := make([]string, 0, len(svc.Instances()))
	for _, in := range svc.Instances() {
		names = append(names, in.Name)
	}
	catalog := prompts.New(names, !writable).WithConfirmation(conf)
	if svc.Access() != nil {
		catalog.PerCaller(svc.Visible)
	}
	s.AddPrompts(catalog.ServerPrompts()...)
	return s
}

// auditHiddenCalls records a call to a tool the caller's access hides:
// mcp-go answers it as a tool that does not exist, and the refusal is
// audited like any other.
func auditHiddenCalls(s *server.MCPServer, svc *incidents.Service, uh *updateHandler) {
	hooks := s.GetHooks()
	if hooks == nil {
		hooks = &server.Hooks{}
		server.WithHooks(hooks)(s)
	}
	hooks.AddOnError(func(ctx context.Context, _ any, method mcp.MCPMethod, message any, err error) {
		req, ok := message.(*mcp.CallToolRequest)
		if method != mcp.MethodToolsCall || !ok || !errors.Is(err, server.ErrToolNotFound) {
			return
		}
		tool := s.GetTool(req.Params.Name)
		if tool == nil || len(callerTools(ctx, svc, uh, []mcp.Tool{tool.Tool})) > 0 {
			return // no such tool, or hidden for another reason (read-only, views)
		}
		svc.Denied(ctx, req.Params.Name, "", "tool hidden by the caller's access")
	})
}

// callerWrites reports whether the caller in ctx may make some change on
// some instance that accepts writes.
func callerWrites(ctx context.Context, svc *incidents.Service) bool {
	for _, in := range svc.InstancesFor(ctx) {
		if !in.ReadOnly && svc.Rights(ctx, in.Name).Writes() {
			return true
		}
	}
	return false
}

// callerTools narrows tools to what the caller in ctx may do, and describes
// them over its own instances only: the reading tools go when it may read
// no instance (describe_instances stays, to say so), update_incident when
// it may change nothing anywhere. An instance it may read but not change
// is described as read-only to it.
func callerTools(ctx context.Context, svc *incidents.Service, h *updateHandler, tools []mcp.Tool) []mcp.Tool {
	visible := svc.InstancesFor(ctx)
	var writable []incidents.InstanceInfo
	writes := false
	for _, in := range visible {
		rights := svc.Rights(ctx, in.Name)
		in.Info.Updates = slices.DeleteFunc(slices.Clone(in.Info.Updates), func(f schema.PatchField) bool {
			k := f
			if k == schema.PatchResolution {
				k = schema.PatchClose
			}
			return !slices.Contains(rights.Write, k)
		})
		if len(in.Info.Updates) == 0 {
			in.ReadOnly = true
		}
		writes = writes || !in.ReadOnly
		writable = append(writable, in)
	}
	out := make([]mcp.Tool, 0, len(tools))
	for _, t := range tools {
		switch t.Name {
		case ListIncidents, GetIncident, ViewIncidentsPage, ViewIncidentsCounts:
			if len(visible) == 0 {
				continue
			}
			if t.Name == ListIncidents {
				t.Description = listToolFor(instanceNames(visible)).Description
			}
		case UpdateIncident:
			if !writes {
				continue
			}
			ut, _ := updateToolFor(writable, h)
			t.Description = ut.Description
		}
		out = append(out, t)
	}
	return out
}
