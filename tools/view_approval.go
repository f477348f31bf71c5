package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/apps"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// App-only tools of the change view's approval, offered only where the
// operator named view approvers (confirm.view_approvers) and only to those
// of them with the approve right: the view reads a pending request and
// approves or rejects it as the calling principal.
const (
	ViewApproval = "incidents_view_approval"
	ViewDecide   = "incidents_view_decide"
)

// ViewApprovalArgs name an approval request.
type ViewApprovalArgs struct {
	ApprovalID string `json:"approval_id" jsonschema:"required" jsonschema_description:"The approval request's id, from update_incident's result."`
}

// ViewDecideArgs are a decision on an approval request.
type ViewDecideArgs struct {
	ApprovalID string `json:"approval_id" jsonschema:"required" jsonschema_description:"The approval request's id, from update_incident's result."`
	Decision   string `json:"decision" jsonschema:"required,enum=approve,enum=reject" jsonschema_description:"approve or reject."`
}

// viewApprovalResult is what the change view shows of a request.
type viewApprovalResult struct {
	Approval   approvalResult       `json:"approval"`
	Incident   *schema.Incident     `json:"incident"`
	Changes    []schema.FieldChange `json:"changes"`
	Requester  string               `json:"requester"`
	Mine       bool                 `json:"mine"`
	MayApprove bool                 `json:"may_approve"`
	MayReject  bool                 `json:"may_reject"`
	WhyNot     string               `json:"why_not,omitempty"`
}

// withViewApproval adds the change view's approval tools when the operator
// named view approvers, and hides them from every other caller: the filter
// is an access boundary (a hidden tool cannot be called either).
func withViewApproval(s *server.MCPServer, svc *incidents.Service, h *updateHandler, ts []server.ServerTool) []server.ServerTool {
	if len(h.engine.Policy().ViewApprovers) == 0 || !h.engine.HasApprovalPage() {
		return ts
	}
	names := make([]string, 0, len(svc.Instances()))
	for _, in := range svc.Instances() {
		names = append(names, in.Name)
	}
	server.WithToolFilter(func(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
		if apps.ClientSupports(ctx) && h.engine.ViewDecides(confirm.Principal(ctx), names) {
			return tools
		}
		return slices.DeleteFunc(tools, func(t mcp.Tool) bool { return t.Name == ViewApproval || t.Name == ViewDecide })
	})(s)
	return append(ts,
		server.ServerTool{Tool: apps.AppOnly(annotate(mcp.NewToolWithRawSchema(ViewApproval,
			"An approval request as the change view shows it to the caller: the stored diff, its state, and whether the caller may approve or reject it.",
			schema.InputSchema[ViewApprovalArgs]()), "Approval request", true, false, true, false), apps.ChangeURI),
			Handler: h.viewApproval},
		server.ServerTool{Tool: apps.AppOnly(annotate(mcp.NewToolWithRawSchema(ViewDecide,
			"Record the calling approver's decision on an approval request, pressed in the change view by a person. Never the requester's approval; the requester applies the change afterwards.",
			schema.InputSchema[ViewDecideArgs]()), "Decide an approval request", false, true, false, false), apps.ChangeURI),
			Handler: h.viewDecide},
	)
}

func (h *updateHandler) viewApproval(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[ViewApprovalArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	if args.ApprovalID == "" {
		return errorResult(schema.ArgError("approval_id", "required: the id from update_incident's approval result")), nil
	}
	v, err := h.engine.ViewApproval(ctx, confirm.Principal(ctx), args.ApprovalID)
	if err != nil {
		return errorResult(err), nil
	}
	return renderViewApproval(v, ""), nil
}

func (h *updateHandler) viewDecide(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[ViewDecideArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	if args.ApprovalID == "" {
		return errorResult(schema.ArgError("approval_id", "required: the id from update_incident's approval result")), nil
	}
	var approve bool
	switch strings.ToLower(strings.TrimSpace(args.Decision)) {
	case "approve":
		approve = true
	case "reject":
	default:
		return errorResult(schema.ArgError("decision", "use \"approve\" or \"reject\"")), nil
	}
	v, err := h.engine.ViewDecide(ctx, confirm.Principal(ctx), args.ApprovalID, approve)
	if err != nil {
		return errorResult(err), nil
	}
	what := "Rejected: nothing will be written."
	if approve {
		what = fmt.Sprintf("Approved (%d of %d).", v.Approvals, v.Needed)
		if v.State == "approved" {
			what += " The requester can apply the change now, once."
		} else {
			what += " Another approver still has to approve it."
		}
	}
	return renderViewApproval(v, what), nil
}

func renderViewApproval(v *confirm.ViewApproval, head string) *mcp.CallToolResult {
	a := v.Approval
	out := &viewApprovalResult{
		Approval: approvalResult{ID: a.ID, URL: a.URL, State: a.State, ExpiresAt: a.Expires.UTC(), Needed: a.Needed, Approvals: a.Approvals},
		Incident: a.Incident, Changes: a.Changes, Requester: v.Requester, Mine: v.Mine,
		MayApprove: v.MayApprove, MayReject: v.MayReject, WhyNot: v.WhyNot,
	}
	var b strings.Builder
	if head != "" {
		b.WriteString(head + "\n")
	}
	fmt.Fprintf(&b, "approval %s: %s, %d of %d approvals, requested by %s, expires %s\n", a.ID, a.State, a.Approvals, a.Needed, v.Requester, a.Expires.UTC().Format(time.RFC3339))
	b.WriteString(renderApproval(a))
	return mcp.NewToolResultStructured(out, strings.TrimSpace(b.String()))
}
