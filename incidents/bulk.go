package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// MaxBulk is the most incidents one bulk change names.
const MaxBulk = 50

// Markers of why a confirmed write wrote nothing, for callers that sort
// outcomes (bulk changes): errors.Is finds them in Apply's errors.
var (
	// ErrConfirmationUsed: the confirmation was spent by an earlier call.
	ErrConfirmationUsed = errors.New("confirmation already used")
	// ErrChangedSincePreview: the incident moved after the preview.
	ErrChangedSincePreview = errors.New("incident changed since the preview")
)

// marked is an error with a marker errors.Is finds, whose text and public
// message stay those of the schema error.
type marked struct {
	err  *schema.Error
	mark error
}

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.err, m.mark} }

// Refusal is an incident of a bulk change that cannot take it; nothing will
// be written to it.
type Refusal struct {
	ID     string      `json:"id"`
	Code   schema.Code `json:"code"`
	Reason string      `json:"reason"`
}

// BulkPreview is one change previewed on many incidents: the items it
// would change and the incidents refused, in the order asked.
type BulkPreview struct {
	Patch   schema.Patch `json:"-"`
	Items   []*Preview   `json:"items"`
	Refused []Refusal    `json:"refused,omitempty"`
	// Requester is the Key of the principal the confirmation is for.
	Requester string `json:"-"`
}

// PreviewBulk previews p on each of ids; an id the caller may not change,
// or that the vendor or its rules refuse, is listed in Refused with the
// answer a single change would get (an incident the caller may not see is
// refused exactly as one that does not exist).
func (s *Service) PreviewBulk(ctx context.Context, ids []string, p schema.Patch) (*BulkPreview, error) {
	if err := checkPatchShape(p, nil); err != nil { // per instance again in Preview
		return nil, err
	}
	bp := &BulkPreview{Patch: p}
	for _, id := range ids {
		pv, err := s.Preview(ctx, id, p) // access first, inside
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			bp.Refused = append(bp.Refused, Refusal{ID: id, Code: schema.CodeOf(err), Reason: schema.PublicMessage(err)})
			continue
		}
		bp.Items = append(bp.Items, pv)
	}
	return bp, nil
}

// Batch is what a bulk confirmation seals: the principal, the one change,
// and for each item the incident state it was previewed in. Item i's nonce
// is the batch nonce and its id, so each item applies at most once however
// often the batch is presented.
type Batch struct {
	Patch     schema.Patch `json:"p"`
	Nonce     string       `json:"n"`
	Items     []BatchItem  `json:"m"`
	Expires   int64        `json:"x"`
	Principal string       `json:"w"`
	// Kind is the confirmation the batch came through; Approvers approved
	// it. Both are set on operations (resumable remainders).
	Kind      string   `json:"k,omitempty"`
	Approvers []string `json:"a,omitempty"`
}

// BatchItem is one incident of a batch as previewed.
type BatchItem struct {
	ID      string    `json:"d"`
	Updated time.Time `json:"u"`
	State   string    `json:"s"`
}

// IDs lists the batch's incidents in order.
func (b *Batch) IDs() []string {
	out := make([]string, len(b.Items))
	for i, it := range b.Items {
		out[i] = it.ID
	}
	return out
}

func bulkKind(kind string) string { return "bulk-" + kind }

// kindOperation seals the remainder of a bulk change a later call resumes.
const kindOperation = "bulk-operation"

// SealBulk issues a confirmation of kind for every item of bp at once.
func (s *Service) SealBulk(kind string, bp *BulkPreview) (string, time.Time, error) {
	nonce := make([]byte, 12)
	rand.Read(nonce)
	now := s.now()
	b := Batch{Patch: bp.Patch, Nonce: hex.EncodeToString(nonce), Expires: now.Add(ConfirmTTL).Unix(), Principal: bp.Requester}
	for _, pv := range bp.Items {
		b.Items = append(b.Items, BatchItem{ID: pv.ID, Updated: pv.Current.UpdatedAt, State: stateHash(pv.Current)})
	}
	tok, err := s.sealer.Seal(bulkKind(kind), b, ConfirmTTL, now)
	return tok, now.Add(ConfirmTTL), err
}

// OpenBulk opens a bulk confirmation of kind issued to requester for
// exactly change p; every item must be among ids. Another principal's
// confirmation is answered as one this server never issued.
func (s *Service) OpenBulk(kind, token string, ids []string, p schema.Patch, requester string) (*Batch, error) {
	arg := map[string]string{ConfirmElicitation: "requestState", ConfirmApproval: "approval_id"}[kind]
	if arg == "" {
		arg = "confirmation_token"
	}
	b, err := s.openBatch(bulkKind(kind), arg, token, requester)
	if err != nil {
		return nil, err
	}
	if patchHash(b.Patch) != patchHash(p) {
		return nil, schema.ArgError(arg, "this confirmation was issued for a different change; it applies only to the exact ids and changes of its preview")
	}
	asked := map[string]bool{}
	for _, id := range ids {
		asked[id] = true
	}
	for _, it := range b.Items {
		if !asked[it.ID] {
			return nil, schema.ArgError(arg, "this confirmation covers %s, which this call does not name; it applies only to the exact ids and changes of its preview", it.ID)
		}
	}
	b.Kind = kind
	return b, nil
}

func (s *Service) openBatch(kind, arg, token, requester string) (*Batch, error) {
	var b Batch
	switch err := s.sealer.Open(kind, token, s.now(), &b); {
	case errors.Is(err, ErrExpired):
		return nil, schema.ArgError(arg, "the confirmation expired (they last %v); call update_incident again without it for a fresh preview", ConfirmTTL)
	case err != nil, b.Principal != requester:
		// Another principal's: answered as a forged one.
		return nil, schema.ArgError(arg, "not a confirmation or operation this server issued to you; call update_incident without it for a preview")
	}
	return &b, nil
}

// OperationStore keeps the remainder of bulk changes where the nonces are
// kept, so an operation id stays short whatever the number of items. The
// nonce stores implement it; with a store that does not, the operation id
// carries the remainder itself.
type OperationStore interface {
	// PutOperation keeps body under id until expires.
	PutOperation(ctx context.Context, id string, body []byte, expires time.Time) error
	// GetOperation returns what PutOperation kept, or nil when it holds
	// nothing under id (never kept, or expired).
	GetOperation(ctx context.Context, id string) ([]byte, error)
}

// kindOperationRef seals a reference to an operation in the store.
const kindOperationRef = "bulk-operation-ref"

type operationRef struct {
	Ref       string `json:"r"`
	Principal string `json:"w"`
}

// SealOperation seals the items of b still to do, for a later call of the
// same principal to resume. It lapses with the confirmation it came from.
func (s *Service) SealOperation(ctx context.Context, b *Batch, rest []BatchItem) (string, error) {
	op := *b
	op.Items = rest
	ttl := time.Unix(b.Expires, 0).Sub(s.now())
	if ttl <= 0 {
		return "", schema.Errorf(schema.CodeFailedPrecondition, "the confirmation expired before the rest of the change could be applied; nothing more will be written. Ask for a new preview of the remaining incidents")
	}
	store, ok := s.nonces.(OperationStore)
	if !ok {
		return s.sealer.Seal(kindOperation, op, ttl, s.now())
	}
	body, err := json.Marshal(op)
	if err != nil {
		return "", fmt.Errorf("encode operation: %w", err)
	}
	ref := make([]byte, 12)
	rand.Read(ref)
	id := hex.EncodeToString(ref)
	if err := store.PutOperation(ctx, id, body, time.Now().Add(ttl+nonceSlack)); err != nil {
		return "", &schema.Error{Code: schema.CodeUnavailable, Msg: "the rest of the change could not be kept for a later call; nothing more was written", Err: err}
	}
	return s.sealer.Seal(kindOperationRef, operationRef{Ref: id, Principal: b.Principal}, ttl, s.now())
}

// OpenOperation opens an operation issued to requester; anyone else's is
// answered as a forged one.
func (s *Service) OpenOperation(ctx context.Context, token, requester string) (*Batch, error) {
	var ref operationRef
	err := s.sealer.Open(kindOperationRef, token, s.now(), &ref)
	if err != nil && !errors.Is(err, ErrExpired) {
		// Not a reference: an operation that carries its remainder.
		return s.openBatch(kindOperation, "operation", token, requester)
	}
	if err != nil {
		return nil, schema.ArgError("operation", "the operation expired with the confirmation it came from; ask for a new preview of the remaining incidents")
	}
	store, ok := s.nonces.(OperationStore)
	if ref.Principal != requester || !ok {
		return nil, schema.ArgError("operation", "not a confirmation or operation this server issued to you; call update_incident without it for a preview")
	}
	body, err := store.GetOperation(ctx, ref.Ref)
	switch {
	case err == nil && body == nil:
		return nil, schema.ArgError("operation", "this operation is no longer kept (the server may have restarted without a shared store); ask for a new preview of the remaining incidents")
	case err != nil:
		return nil, &schema.Error{Code: schema.CodeUnavailable, Msg: "the operation store cannot be read; nothing was written, call again shortly", Err: err}
	}
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil || b.Principal != requester {
		return nil, schema.ArgError("operation", "not a confirmation or operation this server issued to you; call update_incident without it for a preview")
	}
	return &b, nil
}

// ApplyItem writes the batch's change to its item i, with the item's own
// nonce, lock and audit pair: exactly as Apply writes a single change.
func (s *Service) ApplyItem(ctx context.Context, b *Batch, i int, who Actor) (*Applied, error) {
	it := b.Items[i]
	in, native, err := s.writable(ctx, "apply", it.ID, b.Patch)
	if err != nil {
		return nil, err
	}
	if b.Principal != who.Requester {
		return nil, fmt.Errorf("apply %s: the batch belongs to another principal", it.ID)
	}
	bd := &binding{Instance: in.Name, ID: it.ID, Patch: patchHash(b.Patch), Updated: it.Updated, State: it.State,
		Nonce: b.Nonce + "/" + it.ID, Expires: b.Expires, Principal: b.Principal}
	return s.applyBound(ctx, in, native, b.Kind, bd, it.ID, b.Patch, who)
}

// IDs lists the incidents the preview would change.
func (bp *BulkPreview) IDs() []string {
	out := make([]string, len(bp.Items))
	for i, pv := range bp.Items {
		out[i] = pv.ID
	}
	return out
}

// PatchChanges lists what p sets, without the values it replaces: the
// change of a bulk request as a whole.
func PatchChanges(p schema.Patch) []schema.FieldChange {
	ch := diff(&schema.Incident{}, p)
	for i := range ch {
		ch[i].From = nil
	}
	return ch
}
