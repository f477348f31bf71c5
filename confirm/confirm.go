package confirm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// Defaults of the approval path.
const (
	// DefaultApprovalWait is how long Confirm waits for the human after
	// the client opened the approval page through URL elicitation.
	DefaultApprovalWait = 90 * time.Second
	// DefaultMaxPending caps the pending approval requests of one
	// principal.
	DefaultMaxPending = 20
	approvalPoll      = 250 * time.Millisecond
)

// Options configure an Engine.
type Options struct {
	// Policy says which confirmation paths each change may take and whose
	// elicitation counts; nil is the default (elicitation, approval; never
	// the token; elicitation counts only for the local user).
	Policy *approval.Policy
	// ElicitationOnly narrows every change to form elicitation
	// (--elicitation-only).
	ElicitationOnly bool
	// Approval is the approval page; nil when the server has none, which
	// takes the approval path away.
	Approval *approval.Page
	// ApprovalWait bounds the wait after a URL elicitation (default
	// DefaultApprovalWait).
	ApprovalWait time.Duration
	// MaxPending caps the pending approval requests of one principal
	// (default DefaultMaxPending).
	MaxPending int
	// BulkBudget bounds how long one call applies the items of a bulk
	// change (default DefaultBulkBudget); BulkMaxPerCall, when set, caps
	// how many it applies. The rest continues under an operation id.
	BulkBudget     time.Duration
	BulkMaxPerCall int
}

// Engine proposes and confirms writes. It is safe for concurrent use.
type Engine struct {
	svc    *incidents.Service
	policy approval.Policy
	page   *approval.Page
	wait   time.Duration
	max    int

	bulkBudget time.Duration
	bulkMax    int
}

// New returns an Engine over svc.
func New(svc *incidents.Service, o Options) *Engine {
	e := &Engine{svc: svc, page: o.Approval, wait: o.ApprovalWait, max: o.MaxPending, bulkBudget: o.BulkBudget, bulkMax: o.BulkMaxPerCall}
	if o.Policy != nil {
		e.policy = *o.Policy
	}
	if o.ElicitationOnly {
		e.policy.Rule = approval.Rule{Paths: approval.Paths{approval.PathElicitation}}
		e.policy.Changes, e.policy.Instances = nil, nil
	}
	if e.wait <= 0 {
		e.wait = DefaultApprovalWait
	}
	if e.max <= 0 {
		e.max = DefaultMaxPending
	}
	if e.bulkBudget <= 0 {
		e.bulkBudget = DefaultBulkBudget
	}
	return e
}

// Principal is the caller in ctx; a request no transport marked is
// anonymous (caller.MethodNone), never the local user.
func Principal(ctx context.Context) caller.Identity {
	id, ok := caller.From(ctx)
	if !ok || id.Method == "" {
		return caller.Identity{Name: id.Name, Method: caller.MethodNone}
	}
	return id
}

// Client is what the requesting MCP client is and declared it can do.
type Client struct {
	// Name is the client's "name version"; Session its MCP session id.
	Name, Session string
	// Form and URL are the elicitation modes it declared.
	Form, URL bool
}

// Pending is a change proposed and waiting for its confirmation. Exactly
// one of the paths is open: Path says which.
type Pending struct {
	Path    approval.Path
	Preview *incidents.Preview
	// Expires is when the confirmation lapses.
	Expires time.Time
	// State is the sealed request state of a form elicitation
	// (PathElicitation).
	State string
	// Token is the confirmation token the model relays (PathToken).
	Token string
	// Approval is the approval request (PathApproval); OpenPage says the
	// client declared URL elicitation and is asked to open the page.
	Approval *Approval
	OpenPage bool
}

// Approval is where an approval request stands.
type Approval struct {
	ID, URL string
	State   approval.State
	Expires time.Time
	// Needed is how many approvers other than the requester must approve;
	// Approvals how many did.
	Needed, Approvals int
	// Reused is set when an identical pending request of the same
	// principal was returned instead of a new one.
	Reused  bool
	Changes []schema.FieldChange
	// Incident is the incident as it was previewed.
	Incident *schema.Incident
}

// Kind is how a confirmation comes back.
type Kind int

// Kinds of confirmation.
const (
	// KindElicitation: the answer to a form elicitation, with its state.
	KindElicitation Kind = iota + 1
	// KindToken: a confirmation token from a preview.
	KindToken
	// KindApproval: an approval id, once the user says they decided.
	KindApproval
	// KindPageOpened: the answer to a URL elicitation that sent the user
	// to the approval page; Proof is the approval id.
	KindPageOpened
)

// Answer is the user's answer to an elicitation.
type Answer int

// Answers. Only AnswerConfirmed applies a change.
const (
	AnswerNone      Answer = iota // no answer to the confirmation request
	AnswerConfirmed               // accepted with confirm: true
	AnswerUnticked                // accepted without ticking the box
	AnswerDeclined
	AnswerCancelled
)

// Confirmation is the second call of a write: the same id and change, and
// the proof Propose handed out.
type Confirmation struct {
	Kind  Kind
	ID    string
	Patch schema.Patch
	// Proof is the request state, the token or the approval id.
	Proof  string
	Answer Answer
}

// Status is how a confirmation ended.
type Status string

// Statuses of an Outcome.
const (
	StatusApplied  Status = "applied"  // every vendor call succeeded
	StatusDeclined Status = "declined" // nothing written: the human said no, or the request lapsed
	StatusPending  Status = "pending"  // the approval is not decided yet
	StatusFailed   Status = "failed"   // a write was attempted and did not fully succeed (Write says how)
)

// Outcome is how a confirmation ended.
type Outcome struct {
	Status Status
	ID     string
	// Reason says why nothing was written (StatusDeclined), or what the
	// pending approval still needs (StatusPending).
	Reason string
	// Write is the write, for StatusApplied and StatusFailed; its Outcome
	// is the audit outcome (applied, partial, failed, unknown).
	Write *incidents.Applied
	// Err is why the write failed (StatusFailed).
	Err error
	// Approval is the request, for StatusPending.
	Approval *Approval
}

// WriteOutcome is the label telemetry counts: the audit outcome of a write,
// "declined" or "pending".
func (o *Outcome) WriteOutcome() string {
	if o.Write != nil && o.Status != StatusDeclined && o.Status != StatusPending {
		return o.Write.Outcome
	}
	return string(o.Status)
}

// Requirement is what the policy asks of changing kinds on instance when
// who confirms: the approval path is gone without an approval page, and
// elicitation is gone when who's elicitation does not count.
func (e *Engine) Requirement(who caller.Identity, instance string, kinds []schema.PatchField) approval.Requirement {
	need := e.policy.For(instance, kinds)
	need.Paths = slices.DeleteFunc(need.Paths, func(p approval.Path) bool {
		return p == approval.PathApproval && e.page == nil || p == approval.PathElicitation && !e.ElicitationCounts(who)
	})
	return need
}

// ServerRequirement is the requirement regardless of who asks: for
// describing the server, where a path counts as open when it is open for
// someone.
func (e *Engine) ServerRequirement(instance string, kinds []schema.PatchField) approval.Requirement {
	need := e.policy.For(instance, kinds)
	if e.page == nil {
		need.Paths = slices.DeleteFunc(need.Paths, func(p approval.Path) bool { return p == approval.PathApproval })
	}
	return need
}

// ElicitationCounts reports whether who's form elicitation is accepted as a
// person's confirmation: the local user of a stdio server always, anyone
// else only when the policy's ElicitationBy names them.
func (e *Engine) ElicitationCounts(who caller.Identity) bool {
	return who.Method == caller.MethodLocal || slices.ContainsFunc(e.policy.ElicitationBy, who.Matches)
}

// Policy is the policy in force.
func (e *Engine) Policy() *approval.Policy { return &e.policy }

// HasApprovalPage reports whether the server has an approval page.
func (e *Engine) HasApprovalPage() bool { return e.page != nil }

// Propose previews change p of incident id for who and opens the path the
// policy and the client allow, in this order: the client's form, the
// approval page opened by the client (URL elicitation), the token where
// the operator opened it, the approval page relayed by the model.
func (e *Engine) Propose(ctx context.Context, who caller.Identity, id string, p schema.Patch, c Client) (*Pending, error) {
	instance, _, _ := schema.SplitID(id)
	need := e.Requirement(who, instance, approval.KindsOf(p))
	path := choosePath(need, c)
	if path == approval.PathApproval {
		if a := e.reuse(ctx, who, id, p); a != nil {
			return &Pending{Path: path, Approval: a, Expires: a.Expires, OpenPage: c.URL}, nil
		}
	}
	pv, err := e.svc.Preview(ctx, id, p)
	if err != nil {
		return nil, err
	}
	pv.Requester = who.Key()
	switch path {
	case approval.PathElicitation, approval.PathToken:
		kind := incidents.ConfirmToken
		if path == approval.PathElicitation {
			kind = incidents.ConfirmElicitation
		}
		sealed, expires, err := e.svc.Seal(kind, pv)
		if err != nil {
			return nil, fmt.Errorf("seal confirmation: %w", err)
		}
		pd := &Pending{Path: path, Preview: pv, Expires: expires}
		if path == approval.PathElicitation {
			pd.State = sealed
		} else {
			pd.Token = sealed
		}
		return pd, nil
	case approval.PathApproval:
		a, err := e.requestApproval(ctx, who, pv, p, need, c)
		if err != nil {
			return nil, err
		}
		return &Pending{Path: path, Preview: pv, Approval: a, Expires: a.Expires, OpenPage: c.URL}, nil
	}
	return nil, e.noPath(who, id, need)
}

// noPath explains why no confirmation path is open for this change.
func (e *Engine) noPath(who caller.Identity, id string, need approval.Requirement) error {
	instance, _, _ := schema.SplitID(id)
	if !e.ElicitationCounts(who) && e.policy.For(instance, nil).Paths.Has(approval.PathElicitation) && !need.Paths.Has(approval.PathApproval) {
		return schema.Errorf(schema.CodeFailedPrecondition,
			"this change to %s can be confirmed only through the client's elicitation form, and this server does not accept elicitation from %s as a person's confirmation (the operator lists who may, in confirm.elicitation_by or --elicitation-by; there is no approval page to fall back on); nothing was written", id, who.Display())
	}
	return schema.Errorf(schema.CodeFailedPrecondition,
		"this change to %s can be confirmed only through %s, which this client or server cannot offer (the client declared no form elicitation, or no approvers are configured); nothing was written", id, Describe(need))
}

// Confirm applies a change once its confirmation holds, or says where it
// stands. A confirmation issued to another principal is answered as one
// this server never issued. The error is a refusal: nothing was written.
func (e *Engine) Confirm(ctx context.Context, who caller.Identity, cf Confirmation, c Client) (*Outcome, error) {
	instance, _, _ := schema.SplitID(cf.ID)
	need := e.Requirement(who, instance, approval.KindsOf(cf.Patch))
	switch cf.Kind {
	case KindElicitation:
		if cf.Proof == "" {
			return nil, schema.ArgError("inputResponses", "answers without a request state this server issued are refused; call update_incident without them to start a confirmation")
		}
		if !need.Allows(approval.PathElicitation) {
			return nil, e.refusePath(who, approval.PathElicitation, cf.ID, need)
		}
		if err := e.svc.Verify(incidents.ConfirmElicitation, cf.Proof, cf.ID, cf.Patch, who.Key()); err != nil {
			return nil, err
		}
		switch cf.Answer {
		case AnswerConfirmed:
			return e.apply(ctx, incidents.ConfirmElicitation, cf.Proof, cf, actor(who, c, nil))
		case AnswerNone:
			return nil, schema.ArgError("inputResponses", "no answer to the confirmation request; nothing was written")
		case AnswerUnticked:
			return declined(cf.ID, "the user did not tick the confirmation"), nil
		case AnswerDeclined:
			return declined(cf.ID, "the user declined"), nil
		}
		return declined(cf.ID, "the user cancelled"), nil
	case KindToken:
		if !need.Allows(approval.PathToken) {
			return nil, e.refusePath(who, approval.PathToken, cf.ID, need)
		}
		return e.apply(ctx, incidents.ConfirmToken, cf.Proof, cf, actor(who, c, nil))
	case KindPageOpened:
		if cf.Answer != AnswerConfirmed {
			if e.page != nil {
				if r, err := e.own(ctx, who, cf.Proof); err == nil && r.StateAt(e.page.Now()) == approval.StatePending {
					return &Outcome{Status: StatusPending, ID: cf.ID, Approval: e.view(r),
						Reason: "the user did not open the approval page; the page stays open until it expires if they change their mind"}, nil
				}
			}
			return declined(cf.ID, "the user did not open the approval page"), nil
		}
		// Only a client that declared URL elicitation was sent to the
		// page; any other answer is forged, and gets no wait.
		if c.URL && e.page != nil {
			if _, err := e.own(ctx, who, cf.Proof); err == nil {
				wctx, cancel := context.WithTimeout(ctx, e.wait)
				approval.WaitDecided(wctx, e.page.Store(), cf.Proof, e.page.Now, approvalPoll)
				cancel()
			}
		}
		return e.finishApproval(ctx, who, cf, c)
	case KindApproval:
		return e.finishApproval(ctx, who, cf, c)
	}
	return nil, errors.New("confirm: unknown kind of confirmation")
}

func actor(who caller.Identity, c Client, approvers []string) incidents.Actor {
	return incidents.Actor{Client: c.Name, Session: c.Session, Caller: who.Name, Requester: who.Key(), Approvers: approvers}
}

func declined(id, why string) *Outcome {
	return &Outcome{Status: StatusDeclined, ID: id, Reason: why}
}

func (e *Engine) apply(ctx context.Context, kind, proof string, cf Confirmation, a incidents.Actor) (*Outcome, error) {
	applied, err := e.svc.Apply(ctx, kind, proof, cf.ID, cf.Patch, a)
	switch {
	case err == nil:
		return &Outcome{Status: StatusApplied, ID: cf.ID, Write: applied}, nil
	case applied != nil:
		return &Outcome{Status: StatusFailed, ID: cf.ID, Write: applied, Err: err}, nil
	}
	return nil, err
}

// refusePath explains that the policy does not allow path for this change
// when who confirms. It is a failed precondition of the policy, not a
// permission the vendor refused: the message says what to do instead.
func (e *Engine) refusePath(who caller.Identity, path approval.Path, id string, need approval.Requirement) error {
	if path == approval.PathElicitation && !e.ElicitationCounts(who) {
		return schema.Errorf(schema.CodeFailedPrecondition,
			"this server does not accept elicitation from %s as a person's confirmation (the operator lists who may); nothing was written. Call update_incident without it: allowed here is %s", who.Display(), Describe(need))
	}
	return schema.Errorf(schema.CodeFailedPrecondition,
		"this server does not accept %s confirmation for this change to %s (allowed here: %s); nothing was written. Call update_incident without it to start a confirmation the policy allows", path, id, Describe(need))
}

// Describe says in words which paths a requirement allows.
func Describe(need approval.Requirement) string {
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

// dedupKey names one change of one incident asked by one principal.
func dedupKey(who caller.Identity, id string, p schema.Patch) string {
	b, _ := json.Marshal([]any{who.Key(), id, p})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// reuse returns the principal's pending approval request for exactly this
// change, if there is one: a model that asks twice gets one request, on
// whichever replica it asks.
func (e *Engine) reuse(ctx context.Context, who caller.Identity, id string, p schema.Patch) *Approval {
	if e.page == nil {
		return nil
	}
	r, err := e.page.Store().Lookup(ctx, dedupKey(who, id, p), e.page.Now())
	if err != nil || r.Requester.Key != who.Key() {
		return nil
	}
	a := e.view(r)
	a.Reused = true
	return a
}

// requestApproval parks the previewed change on the approval page, unless
// the principal already has as many pending requests as allowed.
func (e *Engine) requestApproval(ctx context.Context, who caller.Identity, pv *incidents.Preview, p schema.Patch, need approval.Requirement, c Client) (*Approval, error) {
	token, expires, err := e.svc.Seal(incidents.ConfirmApproval, pv)
	if err != nil {
		return nil, fmt.Errorf("seal approval: %w", err)
	}
	inc := *pv.Current
	inc.Raw, inc.Details = nil, nil
	r := &approval.Request{
		ID: approval.NewID(), Incident: &inc, Changes: pv.Changes, Patch: p, Token: token,
		Requester: approval.Requester{Client: c.Name, Session: c.Session, Caller: who.Name, Method: who.Method, Key: who.Key()},
		Created:   e.page.Now(), Expires: expires, Required: need.Approvers, Dedup: dedupKey(who, pv.ID, p),
	}
	return e.open(ctx, who, r)
}

// open stores r on the approval page's store, which gives back the
// principal's identical pending request instead, or refuses a new one when
// the principal has as many pending as allowed, across every replica.
func (e *Engine) open(ctx context.Context, who caller.Identity, r *approval.Request) (*Approval, error) {
	got, reused, err := e.page.Store().Open(ctx, r, e.max)
	switch {
	case errors.Is(err, approval.ErrTooMany):
		return nil, schema.Errorf(schema.CodeFailedPrecondition,
			"%s already has %d approval requests waiting for a decision, the most this server keeps per caller; nothing was written and no new request was made. Ask the user to decide (or let expire) the pending ones, then call again", who.Display(), e.max)
	case err != nil:
		return nil, schema.Errorf(schema.CodeUnavailable, "the approval request could not be stored (%v); nothing was written, try again", err)
	}
	a := e.view(got)
	a.Reused = reused
	return a, nil
}

func (e *Engine) view(r *approval.Request) *Approval {
	return &Approval{ID: r.ID, URL: e.page.URL(r.ID), State: r.StateAt(e.page.Now()), Expires: r.Expires.UTC(),
		Needed: max(r.Required, 1), Approvals: r.ApprovedByOthers(), Changes: r.Changes, Incident: r.Incident}
}

// errNoRequest is the answer for an approval id that does not exist here
// and for one another principal asked for: the two are indistinguishable.
func errNoRequest(id string) error {
	return schema.ArgError("approval_id", "there is no approval request %q on this server (requests are forgotten an hour after they expire); call update_incident without approval_id for a new one", id)
}

// own reads approval request id when who asked for it.
func (e *Engine) own(ctx context.Context, who caller.Identity, id string) (*approval.Request, error) {
	r, err := e.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester.Key != who.Key() {
		return nil, errNoRequest(id)
	}
	return r, nil
}

// read reads approval request id from the page's store, whoever asks.
func (e *Engine) read(ctx context.Context, id string) (*approval.Request, error) {
	r, err := e.page.Store().Get(ctx, id)
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return nil, errNoRequest(id)
	case err != nil:
		return nil, schema.Errorf(schema.CodeUnavailable, "the approval store cannot be read (%v); nothing was written, try again", err)
	}
	return r, nil
}

// finishApproval applies the change of an approval request once enough
// approvers other than the requester approved it, or says where it stands.
// The arguments must name the change the request holds.
func (e *Engine) finishApproval(ctx context.Context, who caller.Identity, cf Confirmation, c Client) (*Outcome, error) {
	if e.page == nil {
		return nil, schema.ArgError("approval_id", "this server has no approval page; call update_incident without approval_id")
	}
	r, err := e.own(ctx, who, cf.Proof)
	if err != nil {
		return nil, err
	}
	if r.Incident.ID != cf.ID {
		return nil, schema.ArgError("approval_id", "this approval request is for %s, not %s; it applies only to its own change", r.Incident.ID, cf.ID)
	}
	if !reflect.DeepEqual(r.Patch, cf.Patch) {
		return nil, schema.ArgError("approval_id", "this approval request holds a different change; call again with exactly the arguments of the call that created it")
	}
	a := e.view(r)
	if st, why, hold := e.held(r, a); hold {
		out := &Outcome{Status: st, ID: cf.ID, Reason: why}
		if st == StatusPending {
			out.Approval = a
		}
		return out, nil
	}
	return e.apply(ctx, incidents.ConfirmApproval, r.Token, cf, actor(who, c, r.OtherApprovers()))
}

// held says whether approval request r (seen as a) keeps its change from
// being applied now, and what to answer then: pending while approvers are
// still missing, declined when it was rejected, lapsed undecided, or was
// approved but not collected before it expired.
func (e *Engine) held(r *approval.Request, a *Approval) (Status, string, bool) {
	now := e.page.Now()
	switch r.StateAt(now) {
	case approval.StatePending:
		why := "no approver has decided yet"
		if a.Approvals > 0 {
			why = fmt.Sprintf("%d of %d approvals so far; %d more approver(s) must approve it", a.Approvals, a.Needed, a.Needed-a.Approvals)
		}
		return StatusPending, why, true
	case approval.StateRejected:
		return StatusDeclined, fmt.Sprintf("%s rejected the change on the approval page at %s", r.Rejection.By, r.Rejection.At.UTC().Format(time.RFC3339)), true
	case approval.StateExpired:
		return StatusDeclined, "the approval request expired before it was approved; call update_incident without approval_id for a new one if the user still wants the change", true
	}
	if a.Approvals < a.Needed {
		// A store that counted the requester: four-eyes counts others.
		return StatusPending, fmt.Sprintf("%d of %d approvals by someone other than the requester; %d more approver(s) must approve it", a.Approvals, a.Needed, a.Needed-a.Approvals), true
	}
	if !now.Before(r.Expires) {
		return StatusDeclined, fmt.Sprintf("the change was approved, but not collected before the approval expired at %s; call update_incident without approval_id for a new approval if the user still wants it", r.Expires.UTC().Format(time.RFC3339)), true
	}
	return "", "", false
}

// choosePath is the path a change takes, single or bulk alike, in this
// order: the client's form, the approval page opened by the client (URL
// elicitation), the token where the operator opened it, the approval page
// relayed by the model; "" when the policy and the client leave none.
func choosePath(need approval.Requirement, c Client) approval.Path {
	switch {
	case c.Form && need.Allows(approval.PathElicitation):
		return approval.PathElicitation
	case c.URL && need.Allows(approval.PathApproval):
		return approval.PathApproval
	case need.Allows(approval.PathToken):
		// Where the policy names the token, the operator accepts a
		// model-relayed confirmation; it spares the user the page.
		return approval.PathToken
	case need.Allows(approval.PathApproval):
		return approval.PathApproval
	}
	return ""
}
