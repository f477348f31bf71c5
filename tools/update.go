package tools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

// UpdateIncident is the one write tool.
const UpdateIncident = "update_incident"

// elicitID keys the confirmation in an input request.
const elicitID = "confirm"

// UpdateArgs are the arguments of update_incident.
type UpdateArgs struct {
	ID                string  `json:"id" jsonschema:"required" jsonschema_description:"The incident id as list_incidents returns it: '<instance>:<native id>'."`
	Title             *string `json:"title,omitempty" jsonschema_description:"New title."`
	Description       *string `json:"description,omitempty" jsonschema_description:"New description."`
	Severity          string  `json:"severity,omitempty" jsonschema_description:"New severity."`
	Assignee          *string `json:"assignee,omitempty" jsonschema_description:"New assignee, in the form the instance takes (see the tool description); an empty string removes the assignee."`
	Status            string  `json:"status,omitempty" jsonschema_description:"'closed' closes the incident (needs resolution); 'open' reopens it."`
	Resolution        string  `json:"resolution,omitempty" jsonschema_description:"Why it is closed, with status 'closed': one of the resolutions the instance accepts (see the tool description)."`
	Comment           *string `json:"comment,omitempty" jsonschema_description:"A comment; where the instance keeps it is in the tool description."`
	ConfirmationToken string  `json:"confirmation_token,omitempty" jsonschema_description:"Token flow, second call only: the token from the preview the user approved. Never invent one."`
	ApprovalID        string  `json:"approval_id,omitempty" jsonschema_description:"From an approval result, once the user decided."`
}

func (a *UpdateArgs) patch() (schema.Patch, error) {
	p := schema.Patch{Title: a.Title, Description: a.Description, Assignee: a.Assignee, Comment: a.Comment}
	if a.Severity != "" {
		s, ok := schema.ParseSeverity(a.Severity)
		if !ok {
			return p, schema.ArgError("severity", "unknown severity %q", a.Severity)
		}
		p.Severity = &s
	}
	if a.Status != "" {
		s, ok := schema.ParseStatus(a.Status)
		if !ok {
			return p, schema.ArgError("status", "use \"closed\" or \"open\"")
		}
		p.Status = &s
	}
	if a.Resolution != "" {
		r := schema.Resolution(strings.ToLower(strings.TrimSpace(a.Resolution)))
		p.Resolution = &r
	}
	return p, nil
}

// UpdateOptions configure the write tool.
type UpdateOptions struct {
	// Policy says which confirmation paths each change may take; nil is
	// the default (elicitation, approval; never the token).
	Policy *approval.Policy
	// ElicitationOnly narrows every change to form elicitation
	// (--elicitation-only, the same as --confirm-paths elicitation).
	ElicitationOnly bool
	// Approval is the approval page; nil when the server has none (no
	// approvers configured), which takes the approval path away.
	Approval *approval.Page
	// ApprovalWait bounds how long a call waits for the human after the
	// client opened the page through URL elicitation (default 90s).
	ApprovalWait time.Duration
}

func updateTool(svc *incidents.Service, h *updateHandler) mcp.Tool {
	return updateToolFor(svc.Instances(), h)
}

// updateToolFor describes the tool over instances: every instance for the
// server's own listing, a caller's own view under access rules.
func updateToolFor(instances []incidents.InstanceInfo, h *updateHandler) mcp.Tool {
	var b strings.Builder
	b.WriteString(`Change one incident once a person confirms: the client asks the user (elicitation), or the result gives an approval URL for the user to decide on (you cannot approve), then call again with the same arguments plus approval_id`)
	var readOnly []string
	confirm := map[string][]string{}
	var order []string
	anyToken := false
	for _, in := range instances {
		if in.ReadOnly {
			readOnly = append(readOnly, in.Name)
			continue
		}
		d, token := h.describeInstance(in.Name, in.Info.Updates)
		anyToken = anyToken || token
		if confirm[d] == nil {
			order = append(order, d)
		}
		confirm[d] = append(confirm[d], in.Name)
	}
	if anyToken {
		b.WriteString(`; or, where listed, a preview and a confirmation_token: show it, and only if the user approves call again with the same arguments plus confirmation_token (5 min)`)
	}
	b.WriteString(". What each instance can change: describe_instances.")
	switch {
	case len(order) == 1:
		fmt.Fprintf(&b, " Confirmation: %s.", order[0])
	case len(order) > 1:
		parts := make([]string, len(order))
		for i, d := range order {
			parts[i] = strings.Join(confirm[d], ", ") + ": " + d
		}
		fmt.Fprintf(&b, " Confirmation: %s.", strings.Join(parts, "; "))
	}
	if len(readOnly) > 0 {
		fmt.Fprintf(&b, " Read-only here: %s.", strings.Join(readOnly, ", "))
	}
	b.WriteString(" Each confirmation applies at most once; if the outcome is unknown, re-read the incident with get_incident before retrying.")
	return annotate(mcp.NewToolWithRawSchema(UpdateIncident, b.String(), schema.InputSchema[UpdateArgs]()),
		"Update incident", false, true, false, true)
}

// describeInstance says how changes to an instance are confirmed, kind by
// kind where the policy differs, and whether the token path is open there.
func (h *updateHandler) describeInstance(instance string, updates []schema.PatchField) (string, bool) {
	var order []string
	groups := map[string][]string{}
	token := false
	for _, f := range updates {
		if f == schema.PatchResolution {
			continue // part of close
		}
		need := h.requirement(instance, []schema.PatchField{f})
		token = token || need.Allows(approval.PathToken)
		d := describeRequirement(need)
		if _, seen := groups[d]; !seen {
			order = append(order, d)
		}
		groups[d] = append(groups[d], string(f))
	}
	if len(order) <= 1 {
		if len(order) == 0 {
			return describeRequirement(h.requirement(instance, nil)), false
		}
		return order[0], token
	}
	parts := make([]string, len(order))
	for i, d := range order {
		parts[i] = strings.Join(groups[d], ", ") + ": " + d
	}
	return strings.Join(parts, "; "), token
}

type updateHandler struct {
	svc    *incidents.Service
	opts   UpdateOptions
	policy *approval.Policy
}

func newUpdateHandler(svc *incidents.Service, opts UpdateOptions) *updateHandler {
	return &updateHandler{svc: svc, opts: opts, policy: opts.policy()}
}

func (h *updateHandler) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[UpdateArgs](req)
	if err != nil {
		return errorResult(err), nil
	}
	if args.ID == "" {
		return errorResult(schema.ArgError("id", "required: pass an id from list_incidents")), nil
	}
	patch, err := args.patch()
	if err != nil {
		return errorResult(err), nil
	}
	if err := h.svc.MayUpdate(ctx, args.ID, patch); err != nil {
		return errorResult(err), nil // access first: see MayUpdate
	}
	who := actor(ctx, req)
	instance, _, _ := schema.SplitID(args.ID)
	need := h.requirement(instance, approval.KindsOf(patch))

	// The URL elicitation's retry: the user opened the approval page.
	if strings.HasPrefix(req.Params.RequestState, approvalStatePrefix) {
		return h.urlElicitationAnswer(ctx, req, args.ID, patch, who)
	}
	if args.ApprovalID != "" {
		return h.finishApproval(ctx, args.ApprovalID, args.ID, patch, who)
	}

	// The second round of the elicitation path: only a state this server
	// sealed for exactly this change can carry the user's answer. Answers
	// without it (a client pre-answering "accept") are refused.
	if len(req.Params.InputResponses) > 0 || req.Params.RequestState != "" {
		if req.Params.RequestState == "" {
			return errorResult(schema.ArgError("inputResponses", "answers without a request state this server issued are refused; call update_incident without them to start a confirmation")), nil
		}
		if !need.Allows(approval.PathElicitation) {
			return refusePath(approval.PathElicitation, args.ID, need), nil
		}
		if err := h.svc.Verify(incidents.ConfirmElicitation, req.Params.RequestState, args.ID, patch); err != nil {
			return errorResult(err), nil
		}
		answer := server.ElicitationResponse(req.Params.InputResponses, elicitID)
		if answer == nil {
			return errorResult(schema.ArgError("inputResponses", "no answer to the confirmation request; nothing was written")), nil
		}
		switch answer.Action {
		case mcp.ElicitationResponseActionAccept:
			if !confirmed(answer.Content) {
				return declined(args.ID, "the user did not tick the confirmation"), nil
			}
			return h.apply(ctx, incidents.ConfirmElicitation, req.Params.RequestState, args.ID, patch, who)
		case mcp.ElicitationResponseActionDecline:
			return declined(args.ID, "the user declined"), nil
		default:
			return declined(args.ID, "the user cancelled"), nil
		}
	}

	if args.ConfirmationToken != "" {
		if !need.Allows(approval.PathToken) {
			return refusePath(approval.PathToken, args.ID, need), nil
		}
		return h.apply(ctx, incidents.ConfirmToken, args.ConfirmationToken, args.ID, patch, who)
	}

	pv, err := h.svc.Preview(ctx, args.ID, patch)
	if err != nil {
		return errorResult(err), nil
	}
	form, url := clientElicitation(ctx, req)
	switch {
	case form && need.Allows(approval.PathElicitation):
		state, _, err := h.svc.Seal(incidents.ConfirmElicitation, pv)
		if err != nil {
			return nil, fmt.Errorf("update incident: %w", err)
		}
		return server.NewInputRequestBuilder(state).Elicit(elicitID, mcp.ElicitationParams{
			Message: "Apply this change?\n" + renderPreview(pv),
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"confirm": map[string]any{"type": "boolean", "title": "Apply this change to " + pv.ID, "default": false},
				},
				"required": []string{"confirm"},
			},
		}).ToolResult(), nil
	case url && need.Allows(approval.PathApproval):
		return h.requestApproval(ctx, pv, patch, need, who, true)
	case need.Allows(approval.PathToken):
		// Where the policy names the token, the operator accepts a
		// model-relayed confirmation; it spares the user the page.
	case need.Allows(approval.PathApproval):
		return h.requestApproval(ctx, pv, patch, need, who, false)
	default:
		return errorResult(schema.Errorf(schema.CodeFailedPrecondition,
			"this change to %s can be confirmed only through %s, which this client or server cannot offer (the client declared no form elicitation, or no approvers are configured); nothing was written", args.ID, describeRequirement(need))), nil
	}
	token, expires, err := h.svc.Seal(incidents.ConfirmToken, pv)
	if err != nil {
		return nil, fmt.Errorf("update incident: %w", err)
	}
	text := "PREVIEW — nothing was written.\n" + renderPreview(pv) +
		"\nShow this preview to the user and ask whether to apply it. Only if they approve, call update_incident again with exactly the same arguments plus confirmation_token. It expires at " + expires.Format(time.RFC3339) + "."
	return mcp.NewToolResultStructured(map[string]any{
		"preview": pv, "confirmation_token": token, "expires_at": expires, "applied": false,
	}, text+"\nconfirmation_token: "+token), nil
}

func (h *updateHandler) apply(ctx context.Context, kind, token, id string, p schema.Patch, who incidents.Actor) (*mcp.CallToolResult, error) {
	applied, err := h.svc.Apply(ctx, kind, token, id, p, who)
	if err != nil {
		r := errorResult(err)
		if applied != nil {
			body := map[string]any{"error": r.StructuredContent.(map[string]any)["error"], "outcome": applied.Outcome}
			if len(applied.Steps) > 0 {
				body["vendor_calls"] = applied.Steps
			}
			r.StructuredContent = body
			if applied.Outcome == audit.Unknown {
				// The generic advice ("call again") would risk a second
				// write: the model must re-read first.
				r.Content = []mcp.Content{mcp.NewTextContent("OUTCOME UNKNOWN: " + schema.PublicMessage(err))}
			}
		}
		return r, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "APPLIED to %s:\n", id)
	for _, c := range applied.Changes {
		fmt.Fprintf(&b, "- %s: %s → %s\n", c.Field, showField(c.Field, c.From), showField(c.Field, c.To))
	}
	for _, s := range applied.Steps {
		fmt.Fprintf(&b, "vendor call %s ok (request %s)\n", s.Call, s.RequestID)
	}
	return mcp.NewToolResultStructured(map[string]any{"applied": true, "result": applied}, strings.TrimSpace(b.String())), nil
}

func declined(id, why string) *mcp.CallToolResult {
	return mcp.NewToolResultStructured(map[string]any{"applied": false, "id": id, "reason": why},
		fmt.Sprintf("NOT APPLIED: %s; nothing was written to %s.", why, id))
}

// confirmed reads the form answer: only an explicit confirm: true is a
// confirmation. An accept with no content, {} or null, says nothing about
// this change.
func confirmed(content any) bool {
	m, ok := content.(map[string]any)
	if !ok {
		return false
	}
	b, ok := m["confirm"].(bool)
	return ok && b
}

func renderPreview(pv *incidents.Preview) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) %s\n", pv.ID, pv.Vendor, quoteTitle(pv.Title))
	for _, c := range pv.Changes {
		fmt.Fprintf(&b, "- %s: %s → %s\n", c.Field, showField(c.Field, c.From), showField(c.Field, c.To))
	}
	return b.String()
}

func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		if v == "" {
			return "(none)"
		}
		return fmt.Sprintf("%q", truncate(v, 200))
	}
	return fmt.Sprint(v)
}

// showField fences the free-text fields, which hold vendor text (and the
// user's replacement for it); enum values stay quoted.
func showField(field string, v any) string {
	if s, ok := v.(string); ok && s != "" && slices.Contains([]string{"title", "description", "comment", "assignee"}, field) {
		return fence(truncate(s, 200))
	}
	return show(v)
}

// clientElicitation reads the client's declared elicitation modes: per
// request in the stateless protocol, from the initialize handshake before
// it. mcp-go does not check them for us. An empty capability means form, as
// it did before URL mode existed.
func clientElicitation(ctx context.Context, req mcp.CallToolRequest) (form, url bool) {
	var caps *mcp.ClientCapabilities
	if req.Params.Meta != nil {
		caps = req.Params.Meta.ClientCapabilities()
	}
	if caps == nil && !server.IsModernRequest(ctx) {
		if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
			c := s.GetClientCapabilities()
			caps = &c
		}
	}
	if caps == nil || caps.Elicitation == nil {
		return false, false
	}
	e := caps.Elicitation
	return e.Form != nil || e.URL == nil, e.URL != nil
}

func actor(ctx context.Context, req mcp.CallToolRequest) incidents.Actor {
	a := incidents.Actor{Caller: caller.Name(ctx)}
	if req.Params.Meta != nil {
		if ci := req.Params.Meta.ClientInfo(); ci != nil {
			a.Client = ci.Name + " " + ci.Version
		}
	}
	sess := server.ClientSessionFromContext(ctx)
	if sess != nil {
		a.Session = sess.SessionID()
		if s, ok := sess.(server.SessionWithClientInfo); ok && a.Client == "" {
			ci := s.GetClientInfo()
			a.Client = strings.TrimSpace(ci.Name + " " + ci.Version)
		}
	}
	return a
}
