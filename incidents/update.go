package incidents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// ConfirmTTL is how long a preview can be confirmed.
const ConfirmTTL = 5 * time.Minute

// Confirmation kinds. A token for one path is refused on the other.
const (
	ConfirmToken       = "confirm-token"
	ConfirmElicitation = "confirm-elicitation"
	// ConfirmApproval seals a change parked for the approval page.
	ConfirmApproval = "confirm-approval"
)

// WithAudit records every write in log: an intent before the first vendor
// call, then its outcome.
func WithAudit(log *audit.Log) Option { return func(s *Service) { s.audit = log } }

// Preview is a validated, not yet applied change.
type Preview struct {
	ID       string               `json:"id"`
	Instance string               `json:"instance"`
	Vendor   string               `json:"vendor"`
	Title    string               `json:"title"`
	Changes  []schema.FieldChange `json:"changes"`
	Current  *schema.Incident     `json:"-"`
	// Requester is the Key of the principal who asked for the change; Seal
	// binds the confirmation to it, and only an Actor with the same
	// Requester can apply it.
	Requester string `json:"-"`
	patch     schema.Patch
}

// binding ties a confirmation to exactly one change of one incident in one
// state; it is what confirmation tokens and elicitation states seal.
type binding struct {
	Instance string    `json:"i"`
	ID       string    `json:"d"`
	Patch    string    `json:"p"`
	Updated  time.Time `json:"u"`
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	// Expires is when the confirmation lapses (Unix seconds): how long
	// its nonce must be remembered.
	Expires int64 `json:"x,omitempty"`
	// Principal is the requester's key: whoever else presents the
	// confirmation is answered as if it were not one.
	Principal string `json:"w,omitempty"`
}

// Actor is who confirmed a write, for the audit log.
type Actor struct {
	Client  string
	Session string
	// Caller is the authenticated HTTP caller (token name or JWT subject).
	Caller string
	// Requester is the Key of the principal who asked for the change (the
	// audit's requested_by); it must be the one the confirmation was
	// sealed for.
	Requester string
	// Approvers approved the write on the approval page.
	Approvers []string
}

// Applied reports a write.
type Applied struct {
	ID string `json:"id"`
	// Outcome is audit.Applied, Partial, Failed or Unknown.
	Outcome  string               `json:"outcome"`
	Changes  []schema.FieldChange `json:"changes"`
	Steps    []driver.Step        `json:"vendor_calls"`
	Incident *schema.Incident     `json:"incident,omitempty"`
}

// writable returns the instance of id when it accepts writes, and the
// caller may make every kind of change in p there.
func (s *Service) writable(ctx context.Context, op, id string, p schema.Patch) (*instance, string, error) {
	in, native, err := s.resolve(ctx, op, id)
	if err != nil {
		return nil, "", err
	}
	if err := s.mayWrite(ctx, op, in, id, p); err != nil {
		return nil, "", err
	}
	if in.ReadOnly {
		return nil, "", schema.Errorf(schema.CodePermissionDenied, "instance %s is read-only on this server; nothing was written", in.Name)
	}
	return in, native, nil
}

// Preview reads the incident, validates p against the vendor's capabilities
// and rules, and returns the field-by-field change. It writes nothing.
func (s *Service) Preview(ctx context.Context, id string, p schema.Patch) (*Preview, error) {
	in, native, err := s.writable(ctx, "preview", id, p)
	if err != nil {
		return nil, err
	}
	if err := checkPatchShape(p, in.info.Write.Resolutions); err != nil {
		return nil, err
	}
	info := in.info
	var unsupported []string
	for _, f := range p.Fields() {
		if !slices.Contains(info.Updates, f) {
			unsupported = append(unsupported, string(f))
		}
	}
	if len(unsupported) > 0 {
		return nil, schema.Errorf(schema.CodeUnsupported, "%s (%s) cannot change %s; its API allows: %s. Nothing was written",
			in.Name, info.Vendor, strings.Join(unsupported, ", "), joinFields(info.Updates))
	}
	budget := s.budgetFor(in, Budget{})
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	cur, err := in.Driver.Get(ctx, native)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, s.timeoutError(in, budget, "read incident "+id+" for the preview", "nothing was written; try again later", err)
		}
		return nil, s.wrap(in, "read incident "+id, err)
	}
	s.own(in, cur)
	if err := in.Driver.CheckPatch(cur, p); err != nil {
		return nil, s.wrap(in, "check the change to "+id, err)
	}
	changes := diff(cur, p)
	if len(changes) == 0 {
		return nil, schema.Errorf(schema.CodeFailedPrecondition, "nothing would change: %s already has these values", id)
	}
	return &Preview{ID: id, Instance: in.Name, Vendor: info.Vendor, Title: cur.Title, Changes: changes, Current: cur, patch: p}, nil
}

// Seal issues a confirmation of the given kind for pv.
func (s *Service) Seal(kind string, pv *Preview) (string, time.Time, error) {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	now := s.now()
	b := binding{Instance: pv.Instance, ID: pv.ID, Patch: patchHash(pv.patch), Updated: pv.Current.UpdatedAt, State: stateHash(pv.Current), Nonce: hex.EncodeToString(nonce), Expires: now.Add(ConfirmTTL).Unix(), Principal: pv.Requester}
	tok, err := s.sealer.Seal(kind, b, ConfirmTTL, now)
	return tok, now.Add(ConfirmTTL), err
}

// Verify checks that a confirmation of kind was issued for exactly this
// change of this incident, to the principal whose Key is requester; Apply
// re-checks the incident's state.
func (s *Service) Verify(kind, token, id string, p schema.Patch, requester string) error {
	_, err := s.open(kind, token, id, p, requester)
	return err
}

func (s *Service) open(kind, token, id string, p schema.Patch, requester string) (*binding, error) {
	arg := "confirmation_token"
	switch kind {
	case ConfirmElicitation:
		arg = "requestState"
	case ConfirmApproval:
		arg = "approval_id"
	}
	var b binding
	switch err := s.sealer.Open(kind, token, s.now(), &b); {
	case errors.Is(err, ErrExpired):
		return nil, schema.ArgError(arg, "the confirmation expired (they last %v); call update_incident again without it for a fresh preview", ConfirmTTL)
	case err != nil:
		return nil, schema.ArgError(arg, "not a confirmation this server issued (%v); call update_incident without it for a preview, and show it to the user", err)
	case b.Principal != requester:
		// Another principal's confirmation: answered as a forged one, so
		// it reveals nothing about the other's request.
		return nil, schema.ArgError(arg, "not a confirmation this server issued (%v); call update_incident without it for a preview, and show it to the user", ErrTampered)
	}
	if b.ID != id || b.Patch != patchHash(p) {
		return nil, schema.ArgError(arg, "this confirmation was issued for a different change; it applies only to the exact id and changes of its preview")
	}
	return &b, nil
}

// nonceSlack keeps a used nonce a little past its confirmation's expiry,
// for clocks that disagree by a few seconds.
const nonceSlack = 30 * time.Second

// LockTTL is the longest one write may hold its incident's lock; the write
// is cut off (and its outcome recorded) before another can take it over.
const LockTTL = time.Minute

// WithNonceStore sets where used confirmations are remembered (default: in
// memory, one process).
func WithNonceStore(n NonceStore) Option { return func(s *Service) { s.nonces = n } }

// WithLocker sets what serializes writes to one incident (default: in
// memory, one process).
func WithLocker(l Locker) Option { return func(s *Service) { s.locker = l } }

// Apply writes a confirmed change, at most once per confirmation. Under the
// incident's lock it consumes the confirmation, re-reads the incident and
// refuses if it changed since the preview, appends the audit intent, calls
// the driver, and audits the outcome. Applied.Outcome says how it ended.
func (s *Service) Apply(ctx context.Context, kind, token, id string, p schema.Patch, who Actor) (*Applied, error) {
	in, native, err := s.writable(ctx, "apply", id, p)
	if err != nil {
		return nil, err
	}
	b, err := s.open(kind, token, id, p, who.Requester)
	if err != nil {
		return nil, err
	}
	return s.applyBound(ctx, in, native, kind, b, id, p, who)
}

// applyBound writes the change b binds, under the incident's lock, at most
// once per nonce.
func (s *Service) applyBound(ctx context.Context, in *instance, native, kind string, b *binding, id string, p schema.Patch, who Actor) (*Applied, error) {
	// Every phase runs within the call's budget: the wait for the lock
	// (at most half of it, so the write has the rest), the re-read and the
	// write, whose outcome is unknown when the deadline cuts it.
	budget := s.budgetFor(in, Budget{})
	// The write must also end while the lock is still ours.
	budget.Time = min(budget.Time, LockTTL-5*time.Second)
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	lctx, lcancel := context.WithTimeout(ctx, budget.Time/2)
	fence, unlock, err := s.locker.Lock(lctx, "incident:"+id, LockTTL)
	lcancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, &schema.Error{Code: schema.CodeUnavailable, Err: err, Msg: fmt.Sprintf(
				"busy: another write to %s is in progress and held its lock for all of this call's wait (%s); nothing was written and the confirmation is not spent. Try again shortly with the same confirmation", id, budget.Time/2)}
		}
		return nil, &schema.Error{Code: schema.CodeUnavailable, Msg: "could not take the write lock of " + id + "; nothing was written. Call again shortly with the same confirmation", Err: err}
	}
	defer unlock()

	// The nonce must outlive the confirmation. Its remaining life is
	// measured on the service's clock (the one Open checks) and handed to
	// the store on the wall clock stores use, with a little slack.
	left := ConfirmTTL
	if b.Expires != 0 {
		left = time.Unix(b.Expires, 0).Sub(s.now())
	}
	first, err := s.nonces.Use(ctx, b.Nonce, time.Now().Add(max(left, 0)+nonceSlack))
	if err != nil {
		s.log.Error("confirmation store failed", "id", id, "err", err)
		return nil, &schema.Error{Code: schema.CodeUnavailable, Msg: "the confirmation store is unavailable, so this confirmation cannot be checked for single use; nothing was written. Call again shortly with the same confirmation", Err: err}
	}
	if !first {
		return nil, marked{&schema.Error{Code: schema.CodeFailedPrecondition, Msg: fmt.Sprintf(
			"this confirmation was already used; nothing was written by this call. Each confirmation applies at most once: call get_incident on %s to see its state, and update_incident without a confirmation for a new preview if a change is still needed", id)}, ErrConfirmationUsed}
	}

	cur, err := in.Driver.Get(ctx, native)
	if err != nil {
		return nil, s.wrap(in, "re-read incident "+id+" (nothing was written; the confirmation is spent, ask for a new preview)", err)
	}
	s.own(in, cur)
	if !cur.UpdatedAt.Equal(b.Updated) || stateHash(cur) != b.State {
		return nil, marked{&schema.Error{Code: schema.CodeFailedPrecondition, Msg: fmt.Sprintf(
			"%s changed since the preview (now: status %s, severity %s, assignee %s, updated %s); nothing was written. Call update_incident again without the confirmation for a new preview",
			id, cur.Status, cur.Severity, assigneeOf(cur), cur.UpdatedAt.Format(time.RFC3339))}, ErrChangedSincePreview}
	}
	w := &write{in: in, id: id, patch: p, before: cur, kind: kind, who: who, fence: fence, writeID: newWriteID()}
	if err := s.record(w, audit.Intent, nil, ""); err != nil {
		s.log.Error("audit intent not written; refusing the write", "id", id, "err", err)
		return nil, &schema.Error{Code: schema.CodeUnavailable, Msg: "the audit log cannot be written, and no write happens without its record; nothing was written. The confirmation is spent: tell the user the server's audit log needs attention", Err: err}
	}

	res, werr := in.Driver.Update(ctx, native, p)
	applied := &Applied{ID: id, Changes: diff(cur, p), Outcome: audit.Applied}
	if res != nil {
		applied.Steps = res.Steps
		if res.Incident != nil {
			s.own(in, res.Incident)
			res.Incident.Raw = nil
			applied.Incident = res.Incident
		}
	}
	// What failed is told by its class; the error itself (it can hold the
	// vendor's URL) goes to the server log under the ref.
	var e error
	class := ""
	if werr != nil {
		e = s.wrap(in, "update incident "+id, werr)
		class = driver.Class(werr)
		if se, ok := errors.AsType[*schema.Error](e); ok && se.Ref != "" {
			class += " (ref " + se.Ref + ")"
		}
		for i := range applied.Steps {
			if applied.Steps[i].Error != "" {
				applied.Steps[i].Error = class
			}
		}
	}
	switch {
	case werr == nil:
	case errors.Is(werr, driver.ErrOutcomeUnknown):
		applied.Outcome = audit.Unknown
	case slices.ContainsFunc(applied.Steps, func(st driver.Step) bool { return st.OK }):
		applied.Outcome = audit.Partial
	default:
		applied.Outcome = audit.Failed
	}
	if err := s.record(w, applied.Outcome, applied, class); err != nil {
		s.log.Error("audit outcome not written", "id", id, "write", w.writeID, "outcome", applied.Outcome, "err", err)
		if werr == nil {
			werr = fmt.Errorf("the change was applied but its outcome could not be written to the audit log: %w", err)
		}
	}
	if werr == nil {
		return applied, nil
	}
	if e == nil {
		e = s.wrap(in, "update incident "+id, werr)
	}
	switch applied.Outcome {
	case audit.Unknown:
		e = &schema.Error{Code: schema.CodeOf(e), Msg: fmt.Sprintf(
			"outcome unknown: the request reached %s but its answer was lost, so the change may or may not have been applied. Call get_incident on %s to re-read it before retrying; do not repeat the change blindly", in.Name, id), Err: e}
	case audit.Partial:
		var done []string
		for _, st := range applied.Steps {
			if st.OK {
				done = append(done, st.Call)
			}
		}
		e = &schema.Error{Code: schema.CodeOf(e), Msg: fmt.Sprintf("partly applied: %s succeeded, then", strings.Join(done, ", ")), Err: e}
	}
	return applied, e
}

// write is one confirmed write, as the audit log records it.
type write struct {
	in      *instance
	id      string
	patch   schema.Patch
	before  *schema.Incident
	kind    string
	who     Actor
	fence   int64
	writeID string
}

func newWriteID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// record appends the intent (a nil Applied) or the outcome of w; failure is
// the class of the error that ended it, never its text.
func (s *Service) record(w *write, outcome string, a *Applied, failure string) error {
	if s.audit == nil {
		return nil
	}
	raw := func(v any) json.RawMessage {
		if v == nil {
			return nil
		}
		b, _ := json.Marshal(v)
		return b
	}
	r := audit.Record{
		Time: s.now().UTC(), Instance: w.in.Name, ID: w.id, Write: w.writeID, Outcome: outcome, Fence: w.fence, Patch: raw(w.patch),
		Confirm: strings.TrimPrefix(w.kind, "confirm-"), Client: w.who.Client, Session: w.who.Session, Caller: w.who.Caller,
		RequestedBy: w.who.Requester, ApprovedBy: append([]string{}, w.who.Approvers...),
	}
	if a == nil {
		b := *w.before
		b.Raw, b.Details = nil, nil
		r.Before = raw(&b)
	} else {
		r.Steps = raw(a.Steps)
		if a.Incident != nil {
			r.After = raw(a.Incident)
		}
	}
	r.Error = failure
	return s.audit.Append(r)
}

// checkPatchShape holds for every vendor: something to change, status only
// open or closed, and a resolution exactly when closing, one of resolutions
// (the instance's, from driver.Info) when it names them.
func checkPatchShape(p schema.Patch, resolutions []schema.Resolution) error {
	if len(p.Fields()) == 0 {
		return schema.ArgError("changes", "nothing to change: pass at least one of title, description, severity, assignee, status, resolution, comment")
	}
	if p.Status != nil && *p.Status != schema.StatusOpen && *p.Status != schema.StatusClosed {
		return schema.ArgError("status", "status can be \"closed\" (with a resolution) or \"open\" (reopen); no vendor API sets %q", *p.Status)
	}
	closing := p.Status != nil && *p.Status == schema.StatusClosed
	if closing && p.Resolution == nil {
		accepted := "true_positive, false_positive, suspicious, low_priority, or a vendor's own reason"
		if len(resolutions) > 0 {
			names := make([]string, len(resolutions))
			for i, r := range resolutions {
				names[i] = string(r)
			}
			accepted = "this instance accepts " + strings.Join(names, ", ")
		}
		return schema.ArgError("resolution", "closing needs a resolution: %s", accepted)
	}
	if !closing && p.Resolution != nil {
		return schema.ArgError("resolution", "a resolution is set only when closing: add status \"closed\"")
	}
	if p.Title != nil && strings.TrimSpace(*p.Title) == "" {
		return schema.ArgError("title", "a title cannot be empty")
	}
	return nil
}

func joinFields(fs []schema.PatchField) string {
	if len(fs) == 0 {
		return "no changes at all"
	}
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// diff lists what p changes on cur; values already in place are left out.
func diff(cur *schema.Incident, p schema.Patch) []schema.FieldChange {
	var out []schema.FieldChange
	add := func(field string, from, to any) {
		if from != to {
			out = append(out, schema.FieldChange{Field: field, From: from, To: to})
		}
	}
	if p.Title != nil {
		add("title", cur.Title, *p.Title)
	}
	if p.Description != nil {
		add("description", cur.Description, *p.Description)
	}
	if p.Severity != nil {
		add("severity", string(cur.Severity), string(*p.Severity))
	}
	if p.Assignee != nil {
		add("assignee", assigneeOf(cur), *p.Assignee)
	}
	if p.Status != nil {
		add("status", string(cur.Status), string(*p.Status))
	}
	if p.Resolution != nil {
		add("resolution", string(cur.Resolution), string(*p.Resolution))
	}
	if p.Comment != nil {
		out = append(out, schema.FieldChange{Field: "comment", To: *p.Comment})
	}
	return out
}

func assigneeOf(inc *schema.Incident) string {
	if inc.Assignee == nil {
		return ""
	}
	return inc.Assignee.ID
}

func patchHash(p schema.Patch) string {
	b, _ := json.Marshal(p)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// stateHash fingerprints what a change can touch, so a confirmation is void
// once any of it moved, even on a vendor whose updated_at is coarse.
func stateHash(inc *schema.Incident) string {
	b, _ := json.Marshal([]any{inc.Title, inc.Description, inc.Severity, inc.Status, inc.Resolution, assigneeOf(inc), inc.UpdatedAt})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}
