package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// bulkIDs checks the ids of a bulk change: 1..MaxBulk, none empty, none
// twice.
func bulkIDs(ids []string) error {
	if len(ids) > incidents.MaxBulk {
		return schema.ArgError("ids", "at most %d incidents per call (got %d); split the change into several calls", incidents.MaxBulk, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return schema.ArgError("ids", "an empty id; pass ids from list_incidents")
		}
		if seen[id] {
			return schema.ArgError("ids", "%s is named twice; name each incident once", id)
		}
		seen[id] = true
	}
	return nil
}

// handleBulk is update_incident with ids: one preview and one confirmation
// for the set, then an outcome per incident.
func (h *updateHandler) handleBulk(ctx context.Context, req mcp.CallToolRequest, args *UpdateArgs, patch schema.Patch) *mcp.CallToolResult {
	if err := bulkIDs(args.IDs); err != nil {
		return updateError(err)
	}
	who := confirm.Principal(ctx)
	client := clientOf(ctx, req)
	cf := confirm.Confirmation{Patch: patch}
	if !confirmationIn(req, args, &cf) {
		pd, err := h.engine.ProposeBulk(ctx, who, args.IDs, patch, client)
		if err != nil {
			return updateError(err)
		}
		return renderBulkPending(pd)
	}
	out, err := h.engine.ConfirmBulk(withProgress(ctx, req), who, args.IDs, cf, client)
	if err != nil {
		return updateError(err)
	}
	return renderBulkOutcome(out)
}

// handleResume carries on an operation a bulk change handed over.
func (h *updateHandler) handleResume(ctx context.Context, req mcp.CallToolRequest, args *UpdateArgs) *mcp.CallToolResult {
	p, _ := args.patch()
	if args.ID != "" || len(args.IDs) > 0 || args.ConfirmationToken != "" || args.ApprovalID != "" || len(p.Fields()) > 0 || args.Resolution != "" {
		return updateError(schema.ArgError("operation", "resume an operation with operation alone; the change and its incidents are sealed in it"))
	}
	out, err := h.engine.Resume(withProgress(ctx, req), confirm.Principal(ctx), args.Operation, clientOf(ctx, req))
	if err != nil {
		return updateError(err)
	}
	return renderBulkOutcome(out)
}

// withProgress sends a progress notification after each bulk item when
// the client asked for progress; a notification that cannot be sent is
// dropped.
func withProgress(ctx context.Context, req mcp.CallToolRequest) context.Context {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return ctx
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return ctx
	}
	token := req.Params.Meta.ProgressToken
	return confirm.WithProgress(ctx, func(done, total int) {
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
			"progressToken": token, "progress": done, "total": total,
			"message": fmt.Sprintf("%d of %d incidents", done, total),
		})
	})
}

// bulkResult is update_incident's structured result for ids.
type bulkResult struct {
	Applied           bool                  `json:"applied"`
	Reason            string                `json:"reason,omitempty"`
	Preview           []bulkPreviewItem     `json:"preview,omitempty"`
	Refused           []incidents.Refusal   `json:"refused,omitempty"`
	ConfirmationToken string                `json:"confirmation_token,omitempty"`
	ExpiresAt         *time.Time            `json:"expires_at,omitempty"`
	Approval          *approvalResult       `json:"approval,omitempty"`
	Outcomes          []confirm.ItemOutcome `json:"outcomes,omitempty"`
	Counts            map[string]int        `json:"counts,omitempty"`
	Operation         string                `json:"operation,omitempty"`
	outcome           string
}

// WriteOutcome is what telemetry counts.
func (r *bulkResult) WriteOutcome() string { return r.outcome }

type bulkPreviewItem struct {
	ID      string               `json:"id"`
	Title   string               `json:"title"`
	Changes []schema.FieldChange `json:"changes"`
}

// bulkPreviewText lists one line per incident: its diff, or why it is
// refused.
func bulkPreviewText(bp *incidents.BulkPreview) (string, []bulkPreviewItem) {
	var b strings.Builder
	items := make([]bulkPreviewItem, 0, len(bp.Items))
	fmt.Fprintf(&b, "%d incident(s) would change, %d refused:\n", len(bp.Items), len(bp.Refused))
	for _, pv := range bp.Items {
		items = append(items, bulkPreviewItem{ID: pv.ID, Title: pv.Title, Changes: pv.Changes})
		parts := make([]string, len(pv.Changes))
		for i, c := range pv.Changes {
			if c.Field == "comment" {
				parts[i] = "comment + " + showField(c.Field, c.To)
				continue
			}
			parts[i] = fmt.Sprintf("%s %s → %s", c.Field, showField(c.Field, c.From), showField(c.Field, c.To))
		}
		fmt.Fprintf(&b, "- %s %s: %s\n", pv.ID, quoteTitle(pv.Title), strings.Join(parts, "; "))
	}
	for _, r := range bp.Refused {
		fmt.Fprintf(&b, "- REFUSED %s (%s): %s\n", r.ID, r.Code, r.Reason)
	}
	return b.String(), items
}

// renderBulkPending asks for the one confirmation of a bulk change.
func renderBulkPending(pd *confirm.BulkPending) *mcp.CallToolResult {
	text, items := bulkPreviewText(pd.Preview)
	res := &bulkResult{Preview: items, Refused: pd.Preview.Refused, outcome: "preview"}
	if len(pd.Preview.Items) == 0 {
		res.Reason, res.outcome = "no incident can take this change", "declined"
		return mcp.NewToolResultStructured(res, "NOTHING TO CONFIRM — nothing was written.\n"+text)
	}
	switch pd.Path {
	case approval.PathElicitation:
		return server.NewInputRequestBuilder(pd.State).Elicit(elicitID, mcp.ElicitationParams{
			Message: "Apply this change to these incidents?\n" + text,
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"confirm": map[string]any{"type": "boolean", "title": fmt.Sprintf("Apply this change to %d incidents", len(items)), "default": false},
				},
				"required": []string{"confirm"},
			},
		}).ToolResult()
	case approval.PathToken:
		exp := pd.Expires
		res.ConfirmationToken, res.ExpiresAt = pd.Token, &exp
		return mcp.NewToolResultStructured(res, "PREVIEW — nothing was written.\n"+text+
			"Show this preview to the user. Only if they approve, call update_incident again with exactly the same arguments plus confirmation_token. It expires at "+exp.Format(time.RFC3339)+".\nconfirmation_token: "+pd.Token)
	}
	a := pd.Approval
	if pd.OpenPage {
		return server.NewInputRequestBuilder(approvalStatePrefix+a.ID).Elicit(approveID, mcp.ElicitationParams{
			Mode: mcp.ElicitationModeURL, ElicitationID: a.ID, URL: a.URL,
			Message: "Open the approval page to approve or reject this change (sign-in as an approver needed):\n" + text,
		}).ToolResult()
	}
	res.Approval = approvalView(a)
	res.outcome = "pending"
	need := ""
	if a.Needed > 1 {
		need = fmt.Sprintf(" %d different approvers, none of them the requester, must approve it.", a.Needed)
	}
	head := "APPROVAL PENDING — nothing was written.\n"
	if a.Reused {
		head = "APPROVAL PENDING — nothing was written; this same change to these incidents already waits for approval, so no new request was made.\n"
	}
	return mcp.NewToolResultStructured(res, head+text+fmt.Sprintf(
		"approval pending: ask the user to open %s and approve or reject the whole change there (it expires at %s).%s When they say they decided, call update_incident again with exactly the same arguments plus approval_id: %q.",
		a.URL, a.Expires.UTC().Format(time.RFC3339), need, a.ID))
}

func approvalView(a *confirm.Approval) *approvalResult {
	return &approvalResult{ID: a.ID, URL: a.URL, State: a.State, ExpiresAt: a.Expires.UTC(), Needed: a.Needed, Approvals: a.Approvals, Reused: a.Reused}
}

// renderBulkOutcome is the outcome table: one line per incident.
func renderBulkOutcome(o *confirm.BulkOutcome) *mcp.CallToolResult {
	switch o.Status {
	case confirm.StatusPending:
		return mcp.NewToolResultStructured(&bulkResult{Reason: o.Reason, Approval: approvalView(o.Approval), outcome: "pending"},
			fmt.Sprintf("STILL PENDING — nothing was written; %s. Ask the user to decide on %s, then call again with the same arguments.", o.Reason, o.Approval.URL))
	case confirm.StatusDeclined:
		return mcp.NewToolResultStructured(&bulkResult{Reason: o.Reason, outcome: "declined"},
			fmt.Sprintf("NOT APPLIED: %s; nothing was written.", o.Reason))
	}
	counts := map[string]int{}
	var b strings.Builder
	for _, it := range o.Items {
		counts[string(it.Status)]++
	}
	fmt.Fprintf(&b, "BULK OUTCOME: %d applied, %d failed, %d unknown, %d skipped (changed since preview), %d already done, %d not started\n",
		counts[string(confirm.ItemApplied)], counts[string(confirm.ItemFailed)], counts[string(confirm.ItemUnknown)],
		counts[string(confirm.ItemChanged)], counts[string(confirm.ItemDone)], counts[string(confirm.ItemLater)])
	for _, it := range o.Items {
		line := "- " + it.ID + " " + string(it.Status)
		if it.Reason != "" && it.Status != confirm.ItemLater {
			line += ": " + it.Reason
		}
		b.WriteString(line + "\n")
	}
	if counts[string(confirm.ItemUnknown)] > 0 {
		b.WriteString("For each unknown: call get_incident before retrying; do not repeat the change blindly.\n")
	}
	if o.Operation != "" {
		fmt.Fprintf(&b, "Not finished within this call's budget: call update_incident with only operation: %q to continue (items already taken are never written again).", o.Operation)
	}
	res := &bulkResult{Applied: counts[string(confirm.ItemApplied)] > 0, Outcomes: o.Items, Counts: counts, Operation: o.Operation, outcome: "bulk"}
	return mcp.NewToolResultStructured(res, strings.TrimSpace(b.String()))
}
