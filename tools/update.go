package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// UpdateIncident is the one write tool.
const UpdateIncident = "update_incident"

// elicitID keys the confirmation in an input request.
const elicitID = "confirm"

// UpdateArgs are the arguments of update_incident.
type UpdateArgs struct {
	ID                string   `json:"id,omitempty" jsonschema_description:"The incident id as list_incidents returns it: '<instance>:<native id>'."`
	IDs               []string `json:"ids,omitempty" jsonschema_description:"Bulk, instead of id: up to 50 ids, one change, one confirmation."`
	Operation         string   `json:"operation,omitempty" jsonschema_description:"Alone: resumes a bulk change a result handed over."`
	Title             *string  `json:"title,omitempty" jsonschema_description:"New title."`
	Description       *string  `json:"description,omitempty" jsonschema_description:"New description."`
	Severity          string   `json:"severity,omitempty" jsonschema_description:"New severity."`
	Assignee          *string  `json:"assignee,omitempty" jsonschema_description:"New assignee, in the form the instance takes (see the tool description); an empty string removes the assignee."`
	Status            string   `json:"status,omitempty" jsonschema_description:"'closed' closes the incident (needs resolution); 'open' reopens it."`
	Resolution        string   `json:"resolution,omitempty" jsonschema_description:"Why it is closed, with status 'closed': one of the resolutions the instance accepts (see the tool description)."`
	Comment           *string  `json:"comment,omitempty" jsonschema_description:"A comment; where the instance keeps it is in the tool description."`
	ConfirmationToken string   `json:"confirmation_token,omitempty" jsonschema_description:"Token flow, second call only: the token from the preview the user approved. Never invent one."`
	ApprovalID        string   `json:"approval_id,omitempty" jsonschema_description:"From an approval result, once the user decided."`
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

// UpdateOptions configure the write tool: the confirmation policy, the
// approval page and its limits (see confirm.Options).
type UpdateOptions = confirm.Options

type updateHandler struct {
	svc    *incidents.Service
	engine *confirm.Engine
}

func newUpdateHandler(svc *incidents.Service, opts UpdateOptions) *updateHandler {
	return &updateHandler{svc: svc, engine: confirm.New(svc, opts)}
}

// handle maps the arguments to a proposal or a confirmation and renders
// what the engine decided.
func (h *updateHandler) handle(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, err := bind[UpdateArgs](req)
	if err != nil {
		return updateError(err), nil
	}
	if args.Operation != "" {
		return h.handleResume(ctx, req, args), nil
	}
	if args.ID != "" && len(args.IDs) > 0 {
		return updateError(schema.ArgError("ids", "pass either id (one incident) or ids (a bulk change), not both")), nil
	}
	if args.ID == "" && args.IDs == nil {
		return updateError(schema.ArgError("id", "required: pass an id from list_incidents (or ids for a bulk change)")), nil
	}
	patch, err := args.patch()
	if err != nil {
		return updateError(err), nil
	}
	if args.ID == "" {
		if len(args.IDs) == 0 {
			return updateError(schema.ArgError("ids", "empty: pass 1 to %d ids from list_incidents", incidents.MaxBulk)), nil
		}
		return h.handleBulk(ctx, req, args, patch), nil
	}
	if err := h.svc.MayUpdate(ctx, args.ID, patch); err != nil {
		return updateError(err), nil // access first: see MayUpdate
	}
	who := confirm.Principal(ctx)
	client := clientOf(ctx, req)
	cf := confirm.Confirmation{ID: args.ID, Patch: patch}
	if !confirmationIn(req, args, &cf) {
		pd, err := h.engine.Propose(ctx, who, args.ID, patch, client)
		if err != nil {
			return updateError(err), nil
		}
		return renderPending(pd), nil
	}
	out, err := h.engine.Confirm(ctx, who, cf, client)
	if err != nil {
		return updateError(err), nil
	}
	return renderOutcome(out), nil
}

// confirmationIn reads which confirmation a call carries into cf, single
// or bulk alike; false means none: the call proposes a change.
func confirmationIn(req mcp.CallToolRequest, args *UpdateArgs, cf *confirm.Confirmation) bool {
	state := req.Params.RequestState
	switch {
	case strings.HasPrefix(state, approvalStatePrefix):
		// The URL elicitation's retry: the user opened the approval page.
		cf.Kind, cf.Proof = confirm.KindPageOpened, strings.TrimPrefix(state, approvalStatePrefix)
		if a := server.ElicitationResponse(req.Params.InputResponses, approveID); a != nil && a.Action == mcp.ElicitationResponseActionAccept {
			cf.Answer = confirm.AnswerConfirmed
		}
	case args.ApprovalID != "":
		cf.Kind, cf.Proof = confirm.KindApproval, args.ApprovalID
	case len(req.Params.InputResponses) > 0 || state != "":
		// Only a state this server sealed for exactly this change and this
		// principal can carry the user's answer; answers without it (a
		// client pre-answering "accept") are refused.
		cf.Kind, cf.Proof = confirm.KindElicitation, state
		cf.Answer = formAnswer(server.ElicitationResponse(req.Params.InputResponses, elicitID))
	case args.ConfirmationToken != "":
		cf.Kind, cf.Proof = confirm.KindToken, args.ConfirmationToken
	default:
		return false
	}
	return true
}

// formAnswer reads the form answer: only an explicit confirm: true is a
// confirmation. An accept with no content, {} or null, says nothing about
// this change.
func formAnswer(a *mcp.ElicitationResult) confirm.Answer {
	switch {
	case a == nil:
		return confirm.AnswerNone
	case a.Action == mcp.ElicitationResponseActionAccept:
		if confirmTicked(a.Content) {
			return confirm.AnswerConfirmed
		}
		return confirm.AnswerUnticked
	case a.Action == mcp.ElicitationResponseActionDecline:
		return confirm.AnswerDeclined
	}
	return confirm.AnswerCancelled
}

// confirmForm is the answer of the confirmation form.
type confirmForm struct {
	Confirm *bool `json:"confirm"`
}

// confirmTicked reports whether a form answer's content (the client's
// JSON, as the library decoded it) ticks confirm: true, a boolean. Any
// other content, a confirm of another type, or a name that only differs
// in case (the v2 decoder matches names exactly, and refuses duplicates) is
// not a confirmation.
func confirmTicked(content any) bool {
	raw, err := jsonv2.Marshal(content)
	if err != nil {
		return false
	}
	var f confirmForm
	if jsonv2.Unmarshal(raw, &f) != nil {
		return false
	}
	return f.Confirm != nil && *f.Confirm
}

// updateResult is update_incident's structured result; its JSON is the
// tool's output contract.
type updateResult struct {
	Applied           bool                 `json:"applied"`
	ID                string               `json:"id,omitempty"`
	Reason            string               `json:"reason,omitempty"`
	Preview           *incidents.Preview   `json:"preview,omitempty"`
	ConfirmationToken string               `json:"confirmation_token,omitempty"`
	ExpiresAt         *time.Time           `json:"expires_at,omitempty"`
	Approval          *approvalResult      `json:"approval,omitempty"`
	Changes           []schema.FieldChange `json:"changes,omitempty"`
	Result            *incidents.Applied   `json:"result,omitempty"`
	outcome           string
}

// WriteOutcome is what telemetry counts: applied, preview, pending,
// declined.
func (r *updateResult) WriteOutcome() string { return r.outcome }

// updateFailure is update_incident's structured error: a refusal before any
// write, or a write that did not fully succeed (Outcome says how).
type updateFailure struct {
	Error       *errorBody `json:"error"`
	Outcome     string     `json:"outcome,omitempty"`
	VendorCalls any        `json:"vendor_calls,omitempty"`
}

// WriteOutcome is the audit outcome of a failed write, or the error code
// of a refusal.
func (f *updateFailure) WriteOutcome() string {
	if f.Outcome != "" {
		return f.Outcome
	}
	return string(f.Error.Code)
}

// ToolError is the error's code and correlation id, for the call log.
func (f *updateFailure) ToolError() (code, ref string) { return f.Error.ToolError() }

// updateError renders a refusal: nothing was written.
func updateError(err error) *mcp.CallToolResult {
	body := errorBodyOf(err)
	return errorResultOf(body, &updateFailure{Error: body})
}

type approvalResult struct {
	ID        string         `json:"id"`
	URL       string         `json:"url"`
	State     approval.State `json:"state"`
	ExpiresAt time.Time      `json:"expires_at"`
	Needed    int            `json:"approvals_needed"`
	Approvals int            `json:"approvals"`
	// Reused: an identical request of the same caller was still pending.
	Reused bool `json:"reused,omitempty"`
}

// renderPending asks for the confirmation Propose opened.
func renderPending(pd *confirm.Pending) *mcp.CallToolResult {
	switch pd.Path {
	case approval.PathElicitation:
		pv := pd.Preview
		return server.NewInputRequestBuilder(pd.State).Elicit(elicitID, mcp.ElicitationParams{
			Message: "Apply this change?\n" + renderPreview(pv),
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"confirm": map[string]any{"type": "boolean", "title": "Apply this change to " + pv.ID, "default": false},
				},
				"required": []string{"confirm"},
			},
		}).ToolResult()
	case approval.PathToken:
		text := "PREVIEW — nothing was written.\n" + renderPreview(pd.Preview) +
			"\nShow this preview to the user and ask whether to apply it. Only if they approve, call update_incident again with exactly the same arguments plus confirmation_token. It expires at " + pd.Expires.Format(time.RFC3339) + "."
		exp := pd.Expires
		return mcp.NewToolResultStructured(&updateResult{Preview: pd.Preview, ConfirmationToken: pd.Token, ExpiresAt: &exp, outcome: "preview"},
			text+"\nconfirmation_token: "+pd.Token)
	}
	a := pd.Approval
	if pd.OpenPage {
		return server.NewInputRequestBuilder(approvalStatePrefix+a.ID).Elicit(approveID, mcp.ElicitationParams{
			Mode:          mcp.ElicitationModeURL,
			ElicitationID: a.ID,
			URL:           a.URL,
			Message:       fmt.Sprintf("Open the approval page to approve or reject this change (sign-in as an approver needed):\n%s", renderApproval(a)),
		}).ToolResult()
	}
	head := "APPROVAL PENDING — nothing was written."
	if a.Reused {
		head = "APPROVAL PENDING — nothing was written; this same change already waits for approval, so no new request was made."
	}
	return pendingResult(a, head)
}

// pendingResult tells the model what the human has to do, and how to come
// back. It holds no token: nothing in it lets the model confirm the change.
func pendingResult(a *confirm.Approval, head string) *mcp.CallToolResult {
	var b strings.Builder
	b.WriteString(head + "\n")
	b.WriteString(renderApproval(a))
	need := ""
	if a.Needed > 1 {
		need = fmt.Sprintf(" %d different approvers, none of them the requester, must approve it (%d so far).", a.Needed, a.Approvals)
	}
	fmt.Fprintf(&b, "approval pending: ask the user to open %s and approve or reject the change there (an approver signs in; it expires at %s).%s Only a person on that page can approve it. When they say they decided, call update_incident again with exactly the same arguments plus approval_id: %q.",
		a.URL, a.Expires.UTC().Format(time.RFC3339), need, a.ID)
	return mcp.NewToolResultStructured(&updateResult{
		Approval: &approvalResult{ID: a.ID, URL: a.URL, State: a.State, ExpiresAt: a.Expires.UTC(), Needed: a.Needed, Approvals: a.Approvals, Reused: a.Reused},
		Changes:  a.Changes, outcome: "pending",
	}, b.String())
}

// renderOutcome says how a confirmation ended.
func renderOutcome(o *confirm.Outcome) *mcp.CallToolResult {
	switch o.Status {
	case confirm.StatusApplied:
		var b strings.Builder
		fmt.Fprintf(&b, "APPLIED to %s:\n", o.ID)
		writeChanges(&b, o.Write.Changes)
		for _, s := range o.Write.Steps {
			fmt.Fprintf(&b, "vendor call %s ok (request %s)\n", s.Call, s.RequestID)
		}
		return mcp.NewToolResultStructured(&updateResult{Applied: true, Result: o.Write, outcome: o.WriteOutcome()}, strings.TrimSpace(b.String()))
	case confirm.StatusFailed:
		f := &updateFailure{Error: errorBodyOf(o.Err), Outcome: o.Write.Outcome}
		if len(o.Write.Steps) > 0 {
			f.VendorCalls = o.Write.Steps
		}
		r := errorResultOf(f.Error, f)
		if o.Write.Outcome == audit.Unknown {
			// The generic advice ("call again") would risk a second
			// write: the model must re-read first.
			r.Content = []mcp.Content{mcp.NewTextContent("OUTCOME UNKNOWN: " + schema.PublicMessage(o.Err))}
		}
		return r
	case confirm.StatusPending:
		head := "STILL PENDING — nothing was written; " + o.Reason + "."
		if strings.HasPrefix(o.Reason, "the user did not open") {
			head = "NOT APPLIED — " + o.Reason + "; nothing was written."
		}
		return pendingResult(o.Approval, head)
	}
	return mcp.NewToolResultStructured(&updateResult{ID: o.ID, Reason: o.Reason, outcome: o.WriteOutcome()},
		fmt.Sprintf("NOT APPLIED: %s; nothing was written to %s.", o.Reason, o.ID))
}

func writeChanges(b *strings.Builder, changes []schema.FieldChange) {
	for _, c := range changes {
		fmt.Fprintf(b, "- %s: %s → %s\n", c.Field, showField(c.Field, c.From), showField(c.Field, c.To))
	}
}

func renderApproval(a *confirm.Approval) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) %s\n", a.Incident.ID, a.Incident.Vendor, quoteTitle(a.Incident.Title))
	writeChanges(&b, a.Changes)
	return b.String()
}

func renderPreview(pv *incidents.Preview) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) %s\n", pv.ID, pv.Vendor, quoteTitle(pv.Title))
	writeChanges(&b, pv.Changes)
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

// clientOf reads who the client is and the elicitation modes it declared:
// per request in the stateless protocol, from the initialize handshake
// before it. mcp-go does not check them for us. An empty capability means
// form, as it did before URL mode existed.
func clientOf(ctx context.Context, req mcp.CallToolRequest) confirm.Client {
	var c confirm.Client
	var caps *mcp.ClientCapabilities
	if req.Params.Meta != nil {
		caps = req.Params.Meta.ClientCapabilities()
		if ci := req.Params.Meta.ClientInfo(); ci != nil {
			c.Name = ci.Name + " " + ci.Version
		}
	}
	sess := server.ClientSessionFromContext(ctx)
	if sess != nil {
		c.Session = sess.SessionID()
		if s, ok := sess.(server.SessionWithClientInfo); ok {
			if c.Name == "" {
				ci := s.GetClientInfo()
				c.Name = strings.TrimSpace(ci.Name + " " + ci.Version)
			}
			if caps == nil && !server.IsModernRequest(ctx) {
				cc := s.GetClientCapabilities()
				caps = &cc
			}
		}
	}
	if caps != nil && caps.Elicitation != nil {
		e := caps.Elicitation
		c.Form, c.URL = e.Form != nil || e.URL == nil, e.URL != nil
	}
	return c
}

// updateTool describes update_incident from the live policy: it names only
// the confirmation paths the server opens, and confirmation_token (in the
// text and in the input schema) only where the token path is open. It
// returns the paths open anywhere, for the server instructions.
func updateTool(svc *incidents.Service, h *updateHandler) (mcp.Tool, approval.Paths) {
	return updateToolFor(svc.Instances(), h)
}

// updateToolFor describes the tool over instances: every instance for the
// server's own listing, a caller's own view under access rules.
func updateToolFor(instances []incidents.InstanceInfo, h *updateHandler) (mcp.Tool, approval.Paths) {
	desc, open := h.describe(instances)
	in := schema.InputSchema[UpdateArgs]()
	if !open.Has(approval.PathToken) {
		in = withoutProperty(in, "confirmation_token")
	}
	if !open.Has(approval.PathApproval) {
		in = withoutProperty(in, "approval_id")
	}
	return annotate(mcp.NewToolWithRawSchema(UpdateIncident, desc, in),
		"Update incident", false, true, false, true), open
}

// withoutProperty drops one property from a JSON schema object.
func withoutProperty(raw json.RawMessage, name string) json.RawMessage {
	var s map[string]any
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	if props, ok := s["properties"].(map[string]any); ok {
		delete(props, name)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return raw
	}
	return b
}

// describe writes the tool description and returns the paths open on some
// writable instance.
func (h *updateHandler) describe(instances []incidents.InstanceInfo) (string, approval.Paths) {
	var readOnly []string
	confirmBy := map[string][]string{}
	var order []string
	var open approval.Paths
	for _, in := range instances {
		if in.ReadOnly {
			readOnly = append(readOnly, in.Name)
			continue
		}
		d, paths := h.describeInstance(in.Name, in.Info.Updates)
		for _, p := range paths {
			if !open.Has(p) {
				open = append(open, p)
			}
		}
		if confirmBy[d] == nil {
			order = append(order, d)
		}
		confirmBy[d] = append(confirmBy[d], in.Name)
	}
	var b strings.Builder
	b.WriteString("Change one incident once a person confirms")
	var ways []string
	if open.Has(approval.PathElicitation) {
		ways = append(ways, "the client asks the user (elicitation)")
	}
	if open.Has(approval.PathApproval) {
		ways = append(ways, "the result gives an approval URL for the user to decide on (you cannot approve), then call again with the same arguments plus approval_id")
	}
	if open.Has(approval.PathToken) {
		ways = append(ways, "where listed, a preview and a confirmation_token: show it, and only if the user approves call again with the same arguments plus confirmation_token (5 min)")
	}
	if len(ways) > 0 {
		b.WriteString(": " + strings.Join(ways, "; or "))
	}
	b.WriteString(". What each instance can change: describe_instances.")
	switch {
	case len(order) == 1:
		fmt.Fprintf(&b, " Confirmation: %s.", order[0])
	case len(order) > 1:
		parts := make([]string, len(order))
		for i, d := range order {
			parts[i] = strings.Join(confirmBy[d], ", ") + ": " + d
		}
		fmt.Fprintf(&b, " Confirmation: %s.", strings.Join(parts, "; "))
	}
	if len(readOnly) > 0 {
		fmt.Fprintf(&b, " Read-only here: %s.", strings.Join(readOnly, ", "))
	}
	b.WriteString(" ids: one confirmation for up to 50.")
	b.WriteString(" Each confirmation applies at most once; if the outcome is unknown, re-read the incident with get_incident before retrying.")
	return b.String(), open
}

// describeInstance says how changes to an instance are confirmed, kind by
// kind where the policy differs, and which paths are open there.
func (h *updateHandler) describeInstance(instance string, updates []schema.PatchField) (string, approval.Paths) {
	var order []string
	groups := map[string][]string{}
	var open approval.Paths
	note := func(need approval.Requirement) {
		for _, p := range need.Paths {
			if need.Allows(p) && !open.Has(p) {
				open = append(open, p)
			}
		}
	}
	for _, f := range updates {
		if f == schema.PatchResolution {
			continue // part of close
		}
		need := h.engine.ServerRequirement(instance, []schema.PatchField{f})
		note(need)
		d := confirm.Describe(need)
		if _, seen := groups[d]; !seen {
			order = append(order, d)
		}
		groups[d] = append(groups[d], string(f))
	}
	if len(order) <= 1 {
		if len(order) == 0 {
			return confirm.Describe(h.engine.ServerRequirement(instance, nil)), nil
		}
		return order[0], open
	}
	parts := make([]string, len(order))
	for i, d := range order {
		parts[i] = strings.Join(groups[d], ", ") + ": " + d
	}
	return strings.Join(parts, "; "), open
}
