package confirm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// DefaultBulkBudget is how long one call applies bulk items before it hands
// the rest over under an operation id: a vendor's rate limit (DLP's 60
// requests a minute) must not hold a call open for minutes.
const DefaultBulkBudget = 40 * time.Second

// BulkPending is a bulk change proposed and waiting for its one
// confirmation; Path says which path is open, as for Pending.
type BulkPending struct {
	Path     approval.Path
	Preview  *incidents.BulkPreview
	Expires  time.Time
	State    string
	Token    string
	Approval *Approval
	OpenPage bool
}

// ItemStatus is how one incident of a bulk change ended.
type ItemStatus string

// Item statuses.
const (
	ItemApplied ItemStatus = "applied"
	ItemFailed  ItemStatus = "failed"  // a write was attempted and did not succeed, or nothing could be attempted
	ItemUnknown ItemStatus = "unknown" // the vendor's answer was lost: re-read before retrying
	// ItemChanged: the incident moved after the preview; nothing written.
	ItemChanged ItemStatus = "skipped_changed"
	// ItemDone: an earlier call of this confirmation already took it
	// (a replay, or a resumed operation); nothing written by this call.
	ItemDone ItemStatus = "already_done"
	// ItemLater: not reached within this call's budget; the operation id
	// resumes it.
	ItemLater ItemStatus = "not_started"
)

// ItemOutcome is one row of a bulk outcome.
type ItemOutcome struct {
	ID     string             `json:"id"`
	Status ItemStatus         `json:"status"`
	Reason string             `json:"reason,omitempty"`
	Write  *incidents.Applied `json:"-"`
}

// BulkOutcome is how a bulk confirmation ended. Status is StatusApplied
// once the items were attempted (each row says how it went), or declined
// or pending as for a single change.
type BulkOutcome struct {
	Status Status
	Reason string
	Items  []ItemOutcome
	// Operation resumes the items not started; empty when none are left.
	Operation string
	Approval  *Approval
}

type progressKey struct{}

// WithProgress returns ctx carrying fn, which a bulk run calls after each
// item with the items done and the total. Progress is a courtesy: nothing
// depends on it being delivered.
func WithProgress(ctx context.Context, fn func(done, total int)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Count returns how many items ended in st.
func (o *BulkOutcome) Count(st ItemStatus) int {
	n := 0
	for _, it := range o.Items {
		if it.Status == st {
			n++
		}
	}
	return n
}

// bulkRequirement is the strictest requirement over the instances of ids:
// the paths every one allows, and the most approvers any asks for.
func (e *Engine) bulkRequirement(who caller.Identity, ids []string, p schema.Patch) approval.Requirement {
	var need approval.Requirement
	first := true
	for _, id := range ids {
		instance, _, _ := schema.SplitID(id)
		r := e.Requirement(who, instance, approval.KindsOf(p))
		if first {
			need, first = r, false
			continue
		}
		need.Paths = slices.DeleteFunc(need.Paths, func(x approval.Path) bool { return !r.Paths.Has(x) })
		need.Approvers = max(need.Approvers, r.Approvers)
	}
	return need
}

// ProposeBulk previews change p on every one of ids and opens one
// confirmation for the incidents that can take it, by the path a single
// change would take (the strictest over their instances).
func (e *Engine) ProposeBulk(ctx context.Context, who caller.Identity, ids []string, p schema.Patch, c Client) (*BulkPending, error) {
	bp, err := e.svc.PreviewBulk(ctx, ids, p)
	if err != nil {
		return nil, err
	}
	bp.Requester = who.Key()
	if len(bp.Items) == 0 {
		return &BulkPending{Preview: bp}, nil
	}
	need := e.bulkRequirement(who, bp.IDs(), p)
	path := choosePath(need, c)
	if path == "" {
		return nil, e.noPath(who, bp.Items[0].ID, need)
	}
	kind := map[approval.Path]string{approval.PathElicitation: incidents.ConfirmElicitation, approval.PathToken: incidents.ConfirmToken, approval.PathApproval: incidents.ConfirmApproval}[path]
	sealed, expires, err := e.svc.SealBulk(kind, bp)
	if err != nil {
		return nil, fmt.Errorf("seal bulk confirmation: %w", err)
	}
	pd := &BulkPending{Path: path, Preview: bp, Expires: expires}
	switch path {
	case approval.PathElicitation:
		pd.State = sealed
	case approval.PathToken:
		pd.Token = sealed
	case approval.PathApproval:
		a, err := e.requestBulkApproval(ctx, who, bp, sealed, expires, need, c)
		if err != nil {
			return nil, err
		}
		pd.Approval, pd.Expires, pd.OpenPage = a, a.Expires, c.URL
	}
	return pd, nil
}

// requestBulkApproval parks a bulk change on the approval page, within the
// principal's cap of pending requests.
func (e *Engine) requestBulkApproval(ctx context.Context, who caller.Identity, bp *incidents.BulkPreview, token string, expires time.Time, need approval.Requirement, c Client) (*Approval, error) {
	first := bp.Items[0]
	summary := &schema.Incident{ID: fmt.Sprintf("%d incidents", len(bp.Items)), Instance: first.Instance, Vendor: first.Vendor,
		Title: "One change to " + strings.Join(bp.IDs(), ", ")}
	r := &approval.Request{
		ID: approval.NewID(), Incident: summary, Changes: incidents.PatchChanges(bp.Patch), Patch: bp.Patch, Token: token,
		Requester: approval.Requester{Client: c.Name, Session: c.Session, Caller: who.Name, Method: who.Method, Key: who.Key()},
		Created:   e.page.Now(), Expires: expires, Required: need.Approvers,
		// The same set and change still pending: one request, not two.
		Dedup: dedupKey(who, strings.Join(bp.IDs(), "\n"), bp.Patch),
	}
	for _, pv := range bp.Items {
		r.Items = append(r.Items, approval.Item{ID: pv.ID, Title: pv.Title, Changes: pv.Changes})
	}
	return e.open(ctx, who, r)
}

// ConfirmBulk applies a bulk change once its one confirmation holds, each
// item with its own nonce, lock and audit pair, or says where it stands.
// cf.ID is unused; ids are the incidents the call names.
func (e *Engine) ConfirmBulk(ctx context.Context, who caller.Identity, ids []string, cf Confirmation, c Client) (*BulkOutcome, error) {
	switch cf.Kind {
	case KindElicitation, KindToken:
		kind, path, arg := incidents.ConfirmToken, approval.PathToken, "confirmation_token"
		if cf.Kind == KindElicitation {
			kind, path, arg = incidents.ConfirmElicitation, approval.PathElicitation, "inputResponses"
		}
		if cf.Proof == "" {
			return nil, schema.ArgError(arg, "answers without a request state this server issued are refused; call update_incident without them to start a confirmation")
		}
		b, err := e.svc.OpenBulk(kind, cf.Proof, ids, cf.Patch, who.Key())
		if err != nil {
			return nil, err
		}
		// The policy of the incidents the confirmation covers, as when
		// it was proposed.
		if need := e.bulkRequirement(who, b.IDs(), cf.Patch); !need.Allows(path) {
			return nil, e.refusePath(who, path, b.Items[0].ID, need)
		}
		switch {
		case cf.Kind == KindToken || cf.Answer == AnswerConfirmed:
			return e.run(ctx, b, actor(who, c, nil))
		case cf.Answer == AnswerNone:
			return nil, schema.ArgError("inputResponses", "no answer to the confirmation request; nothing was written")
		}
		return &BulkOutcome{Status: StatusDeclined, Reason: "the user did not confirm"}, nil
	case KindPageOpened, KindApproval:
		if e.page == nil {
			return nil, schema.ArgError("approval_id", "this server has no approval page; call update_incident without approval_id")
		}
		if cf.Kind == KindPageOpened && cf.Answer == AnswerConfirmed && c.URL {
			if _, err := e.own(ctx, who, cf.Proof); err == nil {
				wctx, cancel := context.WithTimeout(ctx, e.wait)
				approval.WaitDecided(wctx, e.page.Store(), cf.Proof, e.page.Now, approvalPoll)
				cancel()
			}
		}
		return e.finishBulkApproval(ctx, who, ids, cf, c)
	}
	return nil, errors.New("confirm: unknown kind of confirmation")
}

func (e *Engine) finishBulkApproval(ctx context.Context, who caller.Identity, ids []string, cf Confirmation, c Client) (*BulkOutcome, error) {
	r, err := e.own(ctx, who, cf.Proof)
	if err != nil {
		return nil, err
	}
	if len(r.Items) == 0 {
		return nil, schema.ArgError("approval_id", "this approval request is for one incident (%s), not for ids; call with its own id", r.Incident.ID)
	}
	if !reflect.DeepEqual(r.Patch, cf.Patch) {
		return nil, schema.ArgError("approval_id", "this approval request holds a different change; call again with exactly the arguments of the call that created it")
	}
	a := e.view(r)
	if st, why, hold := e.held(r, a); hold {
		out := &BulkOutcome{Status: st, Reason: why}
		if st == StatusPending {
			out.Approval = a
		}
		return out, nil
	}
	b, err := e.svc.OpenBulk(incidents.ConfirmApproval, r.Token, ids, cf.Patch, who.Key())
	if err != nil {
		return nil, err
	}
	return e.run(ctx, b, actor(who, c, r.OtherApprovers()))
}

// Resume carries on an operation: the items of a bulk change a previous
// call did not reach. Only the principal it was issued to may resume it;
// anyone else is answered as if it did not exist.
func (e *Engine) Resume(ctx context.Context, who caller.Identity, operation string, c Client) (*BulkOutcome, error) {
	b, err := e.svc.OpenOperation(ctx, operation, who.Key())
	if err != nil {
		return nil, err
	}
	return e.run(ctx, b, actor(who, c, b.Approvers))
}

// run applies b's items in order until the call's budget is spent, and
// seals the rest as an operation. An item already taken by an earlier call
// (its nonce is spent) is reported, never written again.
func (e *Engine) run(ctx context.Context, b *incidents.Batch, a incidents.Actor) (*BulkOutcome, error) {
	out := &BulkOutcome{Status: StatusApplied}
	progress, _ := ctx.Value(progressKey{}).(func(done, total int))
	start := time.Now()
	for i, it := range b.Items {
		if i > 0 && (e.bulkMax > 0 && i >= e.bulkMax || time.Since(start) > e.bulkBudget || ctx.Err() != nil) {
			rest := b.Items[i:]
			b.Approvers = a.Approvers
			op, err := e.svc.SealOperation(ctx, b, rest)
			for _, r := range rest {
				row := ItemOutcome{ID: r.ID, Status: ItemLater, Reason: "not reached within this call's budget; resume with operation"}
				if err != nil {
					row.Status, row.Reason = ItemFailed, schema.PublicMessage(err)
				}
				out.Items = append(out.Items, row)
			}
			out.Operation = op
			return out, nil
		}
		w, err := e.svc.ApplyItem(ctx, b, i, a)
		row := ItemOutcome{ID: it.ID, Status: ItemApplied, Write: w}
		switch {
		case err == nil:
		case w != nil && w.Outcome == audit.Unknown:
			row.Status, row.Reason = ItemUnknown, schema.PublicMessage(err)
		case errors.Is(err, incidents.ErrConfirmationUsed):
			row.Status, row.Reason = ItemDone, "taken by an earlier call of this confirmation; nothing written by this call"
		case errors.Is(err, incidents.ErrChangedSincePreview):
			row.Status, row.Reason = ItemChanged, "changed since the preview; nothing written"
		default:
			row.Status, row.Reason = ItemFailed, schema.PublicMessage(err)
		}
		out.Items = append(out.Items, row)
		if progress != nil {
			progress(i+1, len(b.Items))
		}
	}
	return out, nil
}
