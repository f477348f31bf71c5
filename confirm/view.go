package confirm

import (
	"context"
	"errors"
	"slices"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

// Deciding in the change view of an MCP Apps host: the decider is the MCP
// caller, not a login on the approval page. The operator opts in by naming
// the principals (Policy.ViewApprovers); each of them also needs the approve
// right on the request's instance, and the store's rules hold as on the page
// (no self-approval, one approval per approver, pending only).

// ViewApproval is a pending (or decided) approval request as the change
// view shows it to one viewer, with what that viewer may do about it.
type ViewApproval struct {
	*Approval
	// Requester is the requesting principal's name; Mine is set when the
	// viewer is the requester.
	Requester string
	Mine      bool
	// MayApprove and MayReject are what the viewer may decide now; WhyNot
	// says why not, when it may not approve.
	MayApprove, MayReject bool
	WhyNot                string
}

// ViewDecides reports whether who may decide in the change view at all:
// named by the policy's ViewApprovers, authenticated, and holding the
// approve right somewhere. It says nothing about a given request.
func (e *Engine) ViewDecides(who caller.Identity, instances []string) bool {
	if e.page == nil || !e.viewApprover(who) {
		return false
	}
	return slices.ContainsFunc(instances, func(in string) bool { return e.svc.Access().MayApprove(who, in) })
}

// viewApprover: the operator named who, and who is a named, authenticated
// principal (an anonymous caller is nobody in particular).
func (e *Engine) viewApprover(who caller.Identity) bool {
	if who.Name == "" || who.Method == caller.MethodNone || who.Method == "" {
		return false
	}
	return slices.ContainsFunc(e.policy.ViewApprovers, who.Matches)
}

// readForView reads request id for who: the requester reads its own, an
// in-view approver with the approve right on its instance reads any; to
// everyone else it does not exist.
func (e *Engine) readForView(ctx context.Context, who caller.Identity, id string) (*approval.Request, error) {
	if e.page == nil {
		return nil, errNoRequest(id)
	}
	r, err := e.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester.Key == who.Key() {
		return r, nil
	}
	instance, _, _ := schema.SplitID(r.Incident.ID)
	if !e.viewApprover(who) || !e.svc.Access().MayApprove(who, instance) {
		return nil, errNoRequest(id)
	}
	return r, nil
}

// ViewApproval returns request id as who may see it in the change view.
func (e *Engine) ViewApproval(ctx context.Context, who caller.Identity, id string) (*ViewApproval, error) {
	r, err := e.readForView(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return e.forViewer(who, r), nil
}

func (e *Engine) forViewer(who caller.Identity, r *approval.Request) *ViewApproval {
	v := &ViewApproval{Approval: e.view(r), Requester: r.Requester.Caller, Mine: r.Requester.Key == who.Key()}
	instance, _, _ := schema.SplitID(r.Incident.ID)
	decider := e.viewApprover(who) && e.svc.Access().MayApprove(who, instance)
	pending := v.State == approval.StatePending
	approved := slices.ContainsFunc(r.Approvals, func(d approval.Decision) bool { return d.By == who.Name })
	v.MayReject = decider && pending
	v.MayApprove = v.MayReject && !v.Mine && !r.IsRequester(who.Name) && !approved
	switch {
	case v.MayApprove:
	case !pending:
		v.WhyNot = "the request is " + string(v.State)
	case v.Mine || r.IsRequester(who.Name):
		v.WhyNot = "you asked for this change; another approver must approve it"
	case approved:
		v.WhyNot = "you already approved it; another approver is needed"
	default:
		v.WhyNot = "this server does not let you decide in the view; an approver decides on the approval page"
	}
	return v
}

// ViewDecide records who's decision on request id, made in the change
// view, in the approval store: the same store, rules, log and audit trail as
// the approval page, with the decider named by its principal name. It
// returns the request as who sees it afterwards; the change is applied only
// when the requester collects it (update_incident with approval_id).
func (e *Engine) ViewDecide(ctx context.Context, who caller.Identity, id string, approve bool) (*ViewApproval, error) {
	r, err := e.readForView(ctx, who, id)
	if err != nil {
		return nil, err
	}
	instance, _, _ := schema.SplitID(r.Incident.ID)
	if !e.viewApprover(who) || !e.svc.Access().MayApprove(who, instance) {
		// The requester reading its own request, without the right.
		return nil, schema.Errorf(schema.CodeFailedPrecondition,
			"%s may not decide approval requests here: the operator did not name this caller among the view approvers (confirm.view_approvers), or it lacks the approve right on %s; an approver decides on the approval page. Nothing changed", who.Display(), instance)
	}
	if approve && r.Requester.Key == who.Key() {
		// The store refuses by name; the same principal is refused even
		// under another name.
		return nil, schema.Errorf(schema.CodeFailedPrecondition, "%s; nothing changed", approval.ErrSelfApproval)
	}
	got, err := e.page.Decide(ctx, id, approval.Decision{By: who.Name, Via: approval.ViaView}, approve)
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return nil, errNoRequest(id)
	case errors.Is(err, approval.ErrSelfApproval), errors.Is(err, approval.ErrDecided), errors.Is(err, approval.ErrSameApprover):
		return nil, schema.Errorf(schema.CodeFailedPrecondition, "%s; nothing changed", err)
	case err != nil:
		return nil, schema.Errorf(schema.CodeUnavailable, "the decision could not be recorded (%v); nothing changed, try again", err)
	}
	return e.forViewer(who, got), nil
}
