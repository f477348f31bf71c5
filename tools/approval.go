package tools

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// confirmApproval is the seal kind of a change parked for the approval page;
// the audit log records it as "approval".
const confirmApproval = "confirm-approval"

// approvalStatePrefix marks the request state of a URL elicitation: the
// approval request's id. It grants nothing by itself; the store says whether
// a human approved.
const approvalStatePrefix = "approval:"

// approveID keys the URL elicitation in an input request.
const approveID = "approve"

// Default waits of the approval path.
const (
	// defaultApprovalWait is how long a call waits for the human after the
	// client opened the page through URL elicitation.
	defaultApprovalWait = 90 * time.Second
	approvalPoll        = 250 * time.Millisecond
)

// policy is the confirm-path policy in force: the configured one, or the
// default, narrowed to elicitation by ElicitationOnly.
func (o UpdateOptions) policy() *approval.Policy {
	pol := approval.Policy{}
	if o.Policy != nil {
		pol = *o.Policy
	}
	if o.ElicitationOnly {
		pol = approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathElicitation}}}
	}
	return &pol
}

// requirement is what the policy asks of changing kinds on instance.
func (h *updateHandler) requirement(instance string, kinds []schema.PatchField) approval.Requirement {
	need := h.policy.For(instance, kinds)
	if h.opts.Approval == nil {
		// No page, no approvers: the path does not exist on this server.
		need.Paths = slices.DeleteFunc(need.Paths, func(p approval.Path) bool { return p == approval.PathApproval })
	}
	return need
}

// refusePath explains that the policy does not allow path for this change.
func refusePath(path approval.Path, id string, need approval.Requirement) *mcp.CallToolResult {
	why := "allowed here: " + describeRequirement(need)
	return errorResult(schema.Errorf(schema.CodePermissionDenied,
		"this server does not accept %s confirmation for this change to %s (%s); nothing was written. Call update_incident without it to start a confirmation the policy allows", path, id, why))
}

func describeRequirement(need approval.Requirement) string {
	if len(need.Paths) == 0 {
		return "no confirmation path at all"
	}
	names := make([]string, len(need.Paths))
	for i, p := range need.Paths {
		names[i] = string(p)
	}
	s := strings.Join(names, " or ")
	if need.Approvers > 1 {
		if !need.Paths.Has(approval.PathApproval) {
			return fmt.Sprintf("no confirmation path (%d approvers are required, and the approval page is not available)", need.Approvers)
		}
		s = fmt.Sprintf("approval by %d different approvers", need.Approvers)
	}
	return s
}

// requestApproval parks the previewed change for a human on the approval
// page. A client that declared URL elicitation is asked to open the page;
// any other gets the URL to relay and the request id to call back with.
func (h *updateHandler) requestApproval(ctx context.Context, pv *incidents.Preview, p schema.Patch, need approval.Requirement, who incidents.Actor, urlMode bool) (*mcp.CallToolResult, error) {
	token, expires, err := h.svc.Seal(confirmApproval, pv)
	if err != nil {
		return nil, fmt.Errorf("update incident: %w", err)
	}
	inc := *pv.Current
	inc.Raw, inc.Details = nil, nil
	r := &approval.Request{
		ID: approval.NewID(), Incident: &inc, Changes: pv.Changes, Patch: p, Token: token,
		Requester: approval.Requester{Client: who.Client, Session: who.Session},
		Created:   h.opts.Approval.Now(), Expires: expires, Required: need.Approvers,
	}
	if err := h.opts.Approval.Store().Create(ctx, r); err != nil {
		return errorResult(schema.Errorf(schema.CodeUnavailable, "the approval request could not be stored (%v); nothing was written, try again", err)), nil
	}
	url := h.opts.Approval.URL(r.ID)
	if urlMode {
		return server.NewInputRequestBuilder(approvalStatePrefix+r.ID).Elicit(approveID, mcp.ElicitationParams{
			Mode:          mcp.ElicitationModeURL,
			ElicitationID: r.ID,
			URL:           url,
			Message:       fmt.Sprintf("Open the approval page to approve or reject this change (sign-in as an approver needed):\n%s", renderPreview(pv)),
		}).ToolResult(), nil
	}
	return pendingResult(r, url, pv, "APPROVAL PENDING — nothing was written."), nil
}

// pendingResult tells the model what the human has to do, and how to come
// back. It holds no token: nothing in it lets the model confirm the change.
func pendingResult(r *approval.Request, url string, pv *incidents.Preview, head string) *mcp.CallToolResult {
	var b strings.Builder
	b.WriteString(head + "\n")
	if pv != nil {
		b.WriteString(renderPreview(pv))
	} else {
		fmt.Fprintf(&b, "%s (%s) %s\n", r.Incident.ID, r.Incident.Vendor, quoteTitle(r.Incident.Title))
		for _, c := range r.Changes {
			fmt.Fprintf(&b, "- %s: %s → %s\n", c.Field, showField(c.Field, c.From), showField(c.Field, c.To))
		}
	}
	need := ""
	if r.Required > 1 {
		need = fmt.Sprintf(" %d different approvers must approve it (%d so far).", r.Required, len(r.Approvals))
	}
	fmt.Fprintf(&b, "approval pending: ask the user to open %s and approve or reject the change there (an approver signs in; it expires at %s).%s Only a person on that page can approve it. When they say they decided, call update_incident again with exactly the same arguments plus approval_id: %q.",
		url, r.Expires.UTC().Format(time.RFC3339), need, r.ID)
	return mcp.NewToolResultStructured(map[string]any{
		"applied": false,
		"approval": map[string]any{
			"id": r.ID, "url": url, "state": approval.StatePending, "expires_at": r.Expires.UTC(),
			"approvals_needed": r.Required, "approvals": len(r.Approvals),
		},
		"changes": r.Changes,
	}, b.String())
}

// finishApproval reads an approval request and applies its change when a
// human approved it; otherwise it says where the request stands. The
// arguments must name the change the request holds.
func (h *updateHandler) finishApproval(ctx context.Context, approvalID, id string, p schema.Patch, who incidents.Actor) (*mcp.CallToolResult, error) {
	if h.opts.Approval == nil {
		return errorResult(schema.ArgError("approval_id", "this server has no approval page; call update_incident without approval_id")), nil
	}
	r, err := h.opts.Approval.Store().Get(ctx, approvalID)
	if errors.Is(err, approval.ErrNotFound) {
		return errorResult(schema.ArgError("approval_id", "there is no approval request %q on this server (requests are forgotten an hour after they expire); call update_incident without approval_id for a new one", approvalID)), nil
	}
	if err != nil {
		return errorResult(schema.Errorf(schema.CodeUnavailable, "the approval store cannot be read (%v); nothing was written, try again", err)), nil
	}
	if r.Incident.ID != id {
		return errorResult(schema.ArgError("approval_id", "this approval request is for %s, not %s; it applies only to its own change", r.Incident.ID, id)), nil
	}
	if !reflect.DeepEqual(r.Patch, p) {
		return errorResult(schema.ArgError("approval_id", "this approval request holds a different change; call again with exactly the arguments of the call that created it")), nil
	}
	url := h.opts.Approval.URL(r.ID)
	switch r.StateAt(h.opts.Approval.Now()) {
	case approval.StatePending:
		return pendingResult(r, url, nil, "STILL PENDING — nothing was written; no approver has decided yet."), nil
	case approval.StateRejected:
		return declined(id, fmt.Sprintf("%s rejected the change on the approval page at %s", r.Rejection.By, r.Rejection.At.UTC().Format(time.RFC3339))), nil
	case approval.StateExpired:
		return declined(id, "the approval request expired before it was approved; call update_incident without approval_id for a new one if the user still wants the change"), nil
	}
	who.Approvers = r.Approvers()
	return h.apply(ctx, confirmApproval, r.Token, id, p, who)
}

// urlElicitationAnswer handles the retry after a URL elicitation: the user
// opened (or declined to open) the approval page. It waits a while for the
// decision, then applies the change or says where it stands.
func (h *updateHandler) urlElicitationAnswer(ctx context.Context, req mcp.CallToolRequest, id string, p schema.Patch, who incidents.Actor) (*mcp.CallToolResult, error) {
	approvalID := strings.TrimPrefix(req.Params.RequestState, approvalStatePrefix)
	answer := server.ElicitationResponse(req.Params.InputResponses, approveID)
	if answer == nil || answer.Action != mcp.ElicitationResponseActionAccept {
		if h.opts.Approval != nil {
			if r, err := h.opts.Approval.Store().Get(ctx, approvalID); err == nil && r.StateAt(h.opts.Approval.Now()) == approval.StatePending {
				return pendingResult(r, h.opts.Approval.URL(r.ID), nil, "NOT APPLIED — the user did not open the approval page; nothing was written. The page stays open until it expires if they change their mind."), nil
			}
		}
		return declined(id, "the user did not open the approval page"), nil
	}
	// Only a client that declared URL elicitation was sent to the page;
	// any other answer is forged, and gets no wait.
	if _, url := clientElicitation(ctx, req); url && h.opts.Approval != nil {
		wait := h.opts.ApprovalWait
		if wait <= 0 {
			wait = defaultApprovalWait
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		approval.WaitDecided(wctx, h.opts.Approval.Store(), approvalID, h.opts.Approval.Now, approvalPoll)
		cancel()
	}
	return h.finishApproval(ctx, approvalID, id, p, who)
}
