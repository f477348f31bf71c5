package approval

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// State is where an approval request stands.
type State string

// States of a request. Only pending requests take decisions; only approved
// ones can be applied.
const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateRejected State = "rejected"
	StateExpired  State = "expired"
)

// Requester is who asked for the change: the principal (its Key binds the
// request: only the same principal can collect it) and the MCP client it
// used.
type Requester struct {
	Client  string `json:"client,omitempty"`
	Session string `json:"session,omitempty"`
	// Caller is the principal's name, Method how it authenticated
	// (caller.MethodToken, MethodOAuth, MethodLocal, MethodNone).
	Caller string `json:"caller,omitempty"`
	Method string `json:"method,omitempty"`
	// Key is the principal's caller.Identity.Key().
	Key string `json:"key,omitempty"`
}

// IsRequester reports whether the approver named approver is the person who
// asked for the change. Approvers sign in with accounts of their own, so the
// rule is by name: an approver whose name equals the requester's principal
// name (a token name, an OAuth subject, the local user) counts as the
// requester, whatever the methods. Name your approver accounts as you name
// the same people's tokens, and separation of duties holds.
func (r *Request) IsRequester(approver string) bool {
	return approver != "" && approver == r.Requester.Caller
}

// ApprovedByOthers counts the distinct approvers other than the requester:
// what four-eyes counts.
func (r *Request) ApprovedByOthers() int {
	seen := map[string]bool{}
	for _, a := range r.Approvals {
		if !r.IsRequester(a.By) {
			seen[a.By] = true
		}
	}
	return len(seen)
}

// Decision is one approver's answer.
type Decision struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Via is where it was made: ViaPage, or ViaView for the change view
	// of an MCP Apps host (the decider an MCP principal, not a page login).
	Via string `json:"via,omitempty"`
}

// Where a decision was made.
const (
	ViaPage = "page"
	ViaView = "view"
)

// Request is one change waiting for (or past) a human decision.
type Request struct {
	ID string `json:"id"`
	// Incident is the incident as previewed; Changes the field-by-field diff.
	Incident *schema.Incident     `json:"incident"`
	Changes  []schema.FieldChange `json:"changes"`
	// Patch is the change as asked; a later call must name the same one.
	Patch schema.Patch `json:"patch"`
	// Token is the sealed change: what the MCP side applies once approved.
	// It never reaches the model before a human approved.
	Token     string    `json:"token"`
	Requester Requester `json:"requester"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Required is how many distinct approvers the change needs.
	Required  int        `json:"required"`
	Approvals []Decision `json:"approvals,omitempty"`
	Rejection *Decision  `json:"rejection,omitempty"`
	// State is as last decided; read it through StateAt, which knows expiry.
	State State `json:"state"`
	// Items are the incidents of a bulk change, each with its diff; empty
	// for a change of one incident. Incident then summarizes the set.
	Items []Item `json:"items,omitempty"`
	// Dedup names the change as its requester asked it (principal, incident
	// or incidents, patch): while the request is pending, the same change
	// asked again gets this request (Store.Open).
	Dedup string `json:"dedup,omitempty"`
}

// Item is one incident of a bulk change as previewed.
type Item struct {
	ID      string               `json:"id"`
	Title   string               `json:"title"`
	Changes []schema.FieldChange `json:"changes"`
}

// StateAt is the request's state at now: a pending request past its expiry
// is expired.
func (r *Request) StateAt(now time.Time) State {
	st := r.State
	if st == "" {
		st = StatePending
	}
	if st == StatePending && !now.Before(r.Expires) {
		return StateExpired
	}
	return st
}

// Approvers names who approved, in order.
func (r *Request) Approvers() []string {
	out := make([]string, len(r.Approvals))
	for i, d := range r.Approvals {
		out[i] = d.By
	}
	return out
}

// OtherApprovers names who approved other than the requester, in order:
// the approvers four-eyes counts and the audit names.
func (r *Request) OtherApprovers() []string {
	var out []string
	for _, d := range r.Approvals {
		if !r.IsRequester(d.By) {
			out = append(out, d.By)
		}
	}
	return out
}

func (r *Request) clone() *Request {
	c := *r
	c.Changes = slices.Clone(r.Changes)
	c.Items = slices.Clone(r.Items)
	c.Approvals = slices.Clone(r.Approvals)
	if r.Rejection != nil {
		d := *r.Rejection
		c.Rejection = &d
	}
	return &c
}

// Errors of a Store.
var (
	ErrNotFound = errors.New("no such approval request")
	// ErrDecided: the request is no longer pending (approved, rejected or
	// expired); the error says which.
	ErrDecided = errors.New("approval request already decided")
	// ErrSameApprover: with several approvers required, one person counts
	// once.
	ErrSameApprover = errors.New("this approver already approved; another approver is needed")
	// ErrSelfApproval: the approver asked for the change (see IsRequester).
	ErrSelfApproval = errors.New("you asked for this change, so you cannot approve it; another approver must")
	// ErrTooMany: the requester already has as many pending requests as
	// allowed (Store.Open).
	ErrTooMany = errors.New("too many pending approval requests")
)

// Store keeps approval requests. Decide must be atomic: of concurrent
// decisions on one request, each sees the state the previous left. The
// in-memory store serves one process; a shared store (Redis) can implement
// the same interface for replicas.
type Store interface {
	// Create stores a new request; its ID must be unguessable.
	Create(ctx context.Context, r *Request) error
	// Get returns a copy of the request.
	Get(ctx context.Context, id string) (*Request, error)
	// Decide records d as an approval (approve) or a rejection and returns
	// the request after it. It refuses a request that is not pending at
	// d.At (ErrDecided, wrapped with the state) and a second approval by
	// the same approver (ErrSameApprover) or by the requester
	// (ErrSelfApproval).
	Decide(ctx context.Context, id string, d Decision, approve bool) (*Request, error)
	// Open stores r, a new request, unless its requester (r.Requester.Key)
	// already has a request pending at r.Created under the same r.Dedup:
	// that one is returned instead, with reused true. It refuses, storing
	// nothing, when the requester already has limit pending requests
	// (ErrTooMany). Both hold across every process sharing the store.
	Open(ctx context.Context, r *Request, limit int) (got *Request, reused bool, err error)
	// Lookup returns the request pending at now under dedup, or
	// ErrNotFound.
	Lookup(ctx context.Context, dedup string, now time.Time) (*Request, error)
}

// NewID returns a fresh, unguessable request id (128 random bits).
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MemStore is the in-memory Store for one process.
type MemStore struct {
	mu   sync.Mutex
	reqs map[string]*Request
	// keep is how long a request stays readable after it expires, so a
	// late page view or MCP call can still say "expired" rather than
	// "unknown".
	keep time.Duration
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{reqs: map[string]*Request{}, keep: time.Hour}
}

// Create implements Store.
func (m *MemStore) Create(_ context.Context, r *Request) error {
	if r.ID == "" {
		return errors.New("approval request without an id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(r.Created)
	if _, dup := m.reqs[r.ID]; dup {
		return fmt.Errorf("approval request %s exists", r.ID)
	}
	c := r.clone()
	c.State = StatePending
	m.reqs[r.ID] = c
	return nil
}

// Open implements Store.
func (m *MemStore) Open(_ context.Context, r *Request, limit int) (*Request, bool, error) {
	if r.ID == "" {
		return nil, false, errors.New("approval request without an id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(r.Created)
	open := 0
	for _, o := range m.reqs {
		if o.Requester.Key != r.Requester.Key || o.StateAt(r.Created) != StatePending {
			continue
		}
		if r.Dedup != "" && o.Dedup == r.Dedup {
			return o.clone(), true, nil
		}
		open++
	}
	if open >= limit {
		return nil, false, fmt.Errorf("%w: %d", ErrTooMany, open)
	}
	if _, dup := m.reqs[r.ID]; dup {
		return nil, false, fmt.Errorf("approval request %s exists", r.ID)
	}
	c := r.clone()
	c.State = StatePending
	m.reqs[r.ID] = c
	return c.clone(), false, nil
}

// Lookup implements Store.
func (m *MemStore) Lookup(_ context.Context, dedup string, now time.Time) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.reqs {
		if dedup != "" && o.Dedup == dedup && o.StateAt(now) == StatePending {
			return o.clone(), nil
		}
	}
	return nil, ErrNotFound
}

// sweep forgets requests long past their expiry.
func (m *MemStore) sweep(now time.Time) {
	for id, r := range m.reqs {
		if now.Sub(r.Expires) > m.keep {
			delete(m.reqs, id)
		}
	}
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, id string) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return r.clone(), nil
}

// Decide implements Store.
func (m *MemStore) Decide(_ context.Context, id string, d Decision, approve bool) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.reqs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return DecideRequest(r, d, approve)
}

// DecideRequest records d on r in place, as Store.Decide describes, and
// returns a copy of r after it. Every Store decides through it, so a shared
// store holds the same rules as the in-memory one.
func DecideRequest(r *Request, d Decision, approve bool) (*Request, error) {
	if st := r.StateAt(d.At); st != StatePending {
		return r.clone(), fmt.Errorf("%w: it is %s", ErrDecided, st)
	}
	if !approve {
		r.Rejection = &d
		r.State = StateRejected
		return r.clone(), nil
	}
	if r.IsRequester(d.By) {
		return r.clone(), ErrSelfApproval
	}
	if slices.ContainsFunc(r.Approvals, func(a Decision) bool { return a.By == d.By }) {
		return r.clone(), ErrSameApprover
	}
	r.Approvals = append(r.Approvals, d)
	if r.ApprovedByOthers() >= max(r.Required, 1) {
		r.State = StateApproved
	}
	return r.clone(), nil
}
