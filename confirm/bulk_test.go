package confirm_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

var tokenPolicy = &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathToken}}}

// openNotHigh returns n open incidents of instance whose severity is
// not high.
func (f *fixture) openNotHigh(t *testing.T, instance string, n int) []string {
	t.Helper()
	res, err := f.svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{instance}, Filter: schema.Filter{Status: []string{"open"}}, PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range res.Incidents {
		if inc.Severity != schema.SeverityHigh && len(ids) < n {
			ids = append(ids, inc.ID)
		}
	}
	if len(ids) < n {
		t.Fatalf("only %d open non-high incidents on %s", len(ids), instance)
	}
	return ids
}

// pairs counts the audit intents and outcomes per incident.
func (f *fixture) pairs(t *testing.T) (intents, outcomes map[string]int) {
	t.Helper()
	recs, _, err := audit.Read(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	intents, outcomes = map[string]int{}, map[string]int{}
	for _, r := range recs {
		switch r.Outcome {
		case audit.Intent:
			intents[r.ID]++
		case audit.Denied:
		default:
			outcomes[r.ID]++
		}
	}
	return intents, outcomes
}

func statuses(o *confirm.BulkOutcome) map[confirm.ItemStatus]int {
	m := map[confirm.ItemStatus]int{}
	for _, it := range o.Items {
		m[it.Status]++
	}
	return m
}

// TestBulkMixedRefusalsAndReplay: one preview lists the incidents that can
// take the change and refuses the others with the single change's reasons;
// one confirmation applies each once, with its own audit pair; a replay of
// the same confirmation writes nothing.
func TestBulkMixedRefusalsAndReplay(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: tokenPolicy})
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	ok := f.openNotHigh(t, "eset", 5)
	// A state rule: the fifth is made high first, so nothing would change.
	already := ok[4]
	pd, err := f.engine.Propose(t.Context(), alice, already, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := f.engine.Confirm(t.Context(), alice, confirm.Confirmation{Kind: confirm.KindToken, ID: already, Patch: p, Proof: pd.Token}, confirm.Client{}); err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("single change: %+v %v", out, err)
	}
	kasp := f.openNotHigh(t, "kaspersky", 1)[0]
	ids := append(append([]string{}, ok...), kasp, "eset:00000000-0000-0000-0000-000000000000", "ghost:1")

	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bp.Preview.IDs(); strings.Join(got, ",") != strings.Join(ok[:4], ",") {
		t.Fatalf("previewed %v, want %v", got, ok[:4])
	}
	want := map[string]schema.Code{already: schema.CodeFailedPrecondition, kasp: schema.CodeUnsupported,
		"eset:00000000-0000-0000-0000-000000000000": schema.CodeNotFound, "ghost:1": schema.CodeInvalidArgument}
	if len(bp.Preview.Refused) != len(want) {
		t.Fatalf("refused %+v", bp.Preview.Refused)
	}
	for _, r := range bp.Preview.Refused {
		if want[r.ID] != r.Code || r.Reason == "" {
			t.Errorf("refusal of %s: %s %q, want code %s", r.ID, r.Code, r.Reason, want[r.ID])
		}
	}
	if bp.Path != approval.PathToken || bp.Token == "" {
		t.Fatalf("path %s", bp.Path)
	}
	cf := confirm.Confirmation{Kind: confirm.KindToken, Patch: p, Proof: bp.Token}
	writes := f.vendorWrites()
	out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses(out); s[confirm.ItemApplied] != 4 || len(out.Items) != 4 || out.Operation != "" {
		t.Fatalf("outcome %+v", out.Items)
	}
	applied := f.vendorWrites() - writes
	intents, outcomes := f.pairs(t)
	for _, id := range ok[:4] {
		if intents[id] != 1 || outcomes[id] != 1 {
			t.Errorf("%s: %d intents, %d outcomes; want one pair", id, intents[id], outcomes[id])
		}
	}

	// Replay: the same confirmation, twice more.
	for range 2 {
		out, err = f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses(out); s[confirm.ItemDone] != 4 {
			t.Errorf("replay: %+v", out.Items)
		}
	}
	doubles := f.vendorWrites() - writes - applied
	if doubles != 0 {
		t.Errorf("replay wrote %d times", doubles)
	}
	intents2, outcomes2 := f.pairs(t)
	for _, id := range ok[:4] {
		if intents2[id] != 1 || outcomes2[id] != 1 {
			t.Errorf("after replay %s: %d intents, %d outcomes", id, intents2[id], outcomes2[id])
		}
	}
	t.Logf("bulk: %d applied (vendor writes %d), refused %d, doubles under replay %d", 4, applied, len(want), doubles)

	// The confirmation is bound to its set and its change.
	if _, err := f.engine.ConfirmBulk(t.Context(), alice, ok[1:4], cf, confirm.Client{}); err == nil {
		t.Error("a confirmation presented with fewer ids was accepted")
	}
	other := schema.Patch{Severity: severity(schema.SeverityLow)}
	if _, err := f.engine.ConfirmBulk(t.Context(), alice, ids, confirm.Confirmation{Kind: confirm.KindToken, Patch: other, Proof: bp.Token}, confirm.Client{}); err == nil {
		t.Error("a confirmation presented with another change was accepted")
	}
	if _, err := f.engine.ConfirmBulk(t.Context(), bob, ids, cf, confirm.Client{}); err == nil || !strings.Contains(err.Error(), "not a confirmation") {
		t.Errorf("bob presenting alice's bulk confirmation: %v", err)
	}
}

// TestBulkChangedSincePreview: an incident that moves between the preview
// and the confirmation is skipped; the others apply.
func TestBulkChangedSincePreview(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: tokenPolicy})
	ids := f.openNotHigh(t, "eset", 3)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	low := schema.Patch{Severity: severity(schema.SeverityLow)}
	if cur := bp.Preview.Items[1].Current.Severity; cur == schema.SeverityLow {
		low = schema.Patch{Severity: severity(schema.SeverityMedium)}
	}
	pd, err := f.engine.Propose(t.Context(), alice, ids[1], low, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Confirm(t.Context(), alice, confirm.Confirmation{Kind: confirm.KindToken, ID: ids[1], Patch: low, Proof: pd.Token}, confirm.Client{}); err != nil {
		t.Fatal(err)
	}
	out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, confirm.Confirmation{Kind: confirm.KindToken, Patch: p, Proof: bp.Token}, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	want := []confirm.ItemStatus{confirm.ItemApplied, confirm.ItemChanged, confirm.ItemApplied}
	for i, it := range out.Items {
		if it.Status != want[i] {
			t.Errorf("%s: %s, want %s", it.ID, it.Status, want[i])
		}
	}
}

// TestBulkOperationResume: past the call's budget the rest continues under
// an operation only its principal can resume; nothing applies twice.
func TestBulkOperationResume(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: tokenPolicy, BulkMaxPerCall: 2})
	ids := f.openNotHigh(t, "eset", 5)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cf := confirm.Confirmation{Kind: confirm.KindToken, Patch: p, Proof: bp.Token}
	out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	// The remainder is kept in the nonce store: the id stays short.
	if len(out.Operation) > 300 {
		t.Errorf("operation id of %d bytes for 3 items: the remainder should be kept in the store", len(out.Operation))
	}
	if s := statuses(out); s[confirm.ItemApplied] != 2 || s[confirm.ItemLater] != 3 || out.Operation == "" {
		t.Fatalf("first call: %+v", out)
	}
	writes := f.vendorWrites()
	for _, who := range []struct {
		name string
		out  func() (*confirm.BulkOutcome, error)
	}{
		{"bob", func() (*confirm.BulkOutcome, error) {
			return f.engine.Resume(t.Context(), bob, out.Operation, confirm.Client{})
		}},
		{"anonymous", func() (*confirm.BulkOutcome, error) {
			return f.engine.Resume(t.Context(), anon, out.Operation, confirm.Client{})
		}},
		{"forged", func() (*confirm.BulkOutcome, error) {
			return f.engine.Resume(t.Context(), alice, out.Operation[:len(out.Operation)-2]+"xx", confirm.Client{})
		}},
	} {
		if o, err := who.out(); err == nil || !strings.Contains(err.Error(), "not a confirmation or operation this server issued") {
			t.Errorf("%s resuming alice's operation: %+v %v", who.name, o, err)
		}
	}
	if f.vendorWrites() != writes {
		t.Fatalf("a refused resume wrote")
	}
	// Alice resumes until done; the first operation resumed twice takes
	// nothing twice.
	op := out.Operation
	seen := statuses(out)[confirm.ItemApplied]
	for op != "" {
		o, err := f.engine.Resume(t.Context(), alice, op, confirm.Client{})
		if err != nil {
			t.Fatal(err)
		}
		seen += statuses(o)[confirm.ItemApplied]
		op = o.Operation
	}
	if again, err := f.engine.Resume(t.Context(), alice, out.Operation, confirm.Client{}); err != nil || statuses(again)[confirm.ItemApplied] != 0 {
		t.Errorf("resuming a finished operation again: %+v %v", again, err)
	}
	if seen != 5 {
		t.Errorf("applied %d of 5", seen)
	}
	intents, outcomes := f.pairs(t)
	for _, id := range ids {
		if intents[id] != 1 || outcomes[id] != 1 {
			t.Errorf("%s: %d intents, %d outcomes", id, intents[id], outcomes[id])
		}
	}
}

// TestBulkFourEyes: a bulk change on the approval page with four-eyes
// applies only after two approvers other than the requester approved, and
// the audit names them on every item.
func TestBulkFourEyes(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathApproval}, Approvers: 2}}})
	ids := f.openNotHigh(t, "eset", 3)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil || bp.Path != approval.PathApproval {
		t.Fatalf("%+v %v", bp, err)
	}
	again, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil || again.Approval.ID != bp.Approval.ID || !again.Approval.Reused {
		t.Errorf("the same bulk change asked twice made a second request: %+v %v", again.Approval, err)
	}
	cf := confirm.Confirmation{Kind: confirm.KindApproval, Patch: p, Proof: bp.Approval.ID}
	for _, who := range []string{"alice", "bob"} {
		_ = approvaltest.Approve(bp.Approval.URL, who, password) // alice's own approval does not count
		out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
		if err != nil || out.Status != confirm.StatusPending {
			t.Fatalf("after %s: %+v %v", who, out, err)
		}
	}
	if err := approvaltest.Approve(bp.Approval.URL, "carol", password); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.ConfirmBulk(t.Context(), bob, ids, cf, confirm.Client{}); err == nil {
		t.Error("bob collected alice's approval")
	}
	out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
	if err != nil || statuses(out)[confirm.ItemApplied] != 3 {
		t.Fatalf("%+v %v", out, err)
	}
	for _, r := range f.outcomes(t) {
		if strings.Join(r.ApprovedBy, ",") != "bob,carol" || r.Confirm != "approval" {
			t.Errorf("audit of %s: approved by %v via %s", r.ID, r.ApprovedBy, r.Confirm)
		}
	}
}

// TestBulkApprovalExpiredAfterApproval: a bulk approval collected after its
// expiry is declined as the single one is, naming approval_id, and writes
// nothing.
func TestBulkApprovalExpiredAfterApproval(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathApproval}}}})
	ids := f.openNotHigh(t, "eset", 2)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil || bp.Path != approval.PathApproval {
		t.Fatalf("%+v %v", bp, err)
	}
	if err := approvaltest.Approve(bp.Approval.URL, "bob", password); err != nil {
		t.Fatal(err)
	}
	f.skew.Store(int64(incidents.ConfirmTTL + time.Second))
	out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, confirm.Confirmation{Kind: confirm.KindApproval, Patch: p, Proof: bp.Approval.ID}, confirm.Client{})
	if err != nil || out.Status != confirm.StatusDeclined || !strings.Contains(out.Reason, "approval expired") || strings.Contains(out.Reason, "confirmation_token") {
		t.Fatalf("expired bulk approval: %+v %v", out, err)
	}
	if n := f.vendorWrites(); n != 0 {
		t.Errorf("%d writes", n)
	}
}

// TestBulkConcurrentReplay: the same bulk confirmation presented by four
// calls at once applies each incident once in all.
func TestBulkConcurrentReplay(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: tokenPolicy})
	ids := f.openNotHigh(t, "eset", 6)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	bp, err := f.engine.ProposeBulk(t.Context(), alice, ids, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	cf := confirm.Confirmation{Kind: confirm.KindToken, Patch: p, Proof: bp.Token}
	writes := f.vendorWrites()
	var mu sync.Mutex
	total := map[confirm.ItemStatus]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			out, err := f.engine.ConfirmBulk(t.Context(), alice, ids, cf, confirm.Client{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for st, n := range statuses(out) {
				total[st] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	// A loser of the race may find the incident already changed instead
	// of the nonce spent; either way it writes nothing.
	if total[confirm.ItemApplied] != 6 || total[confirm.ItemDone]+total[confirm.ItemChanged] != 18 {
		t.Errorf("4 concurrent calls: %v", total)
	}
	if got := f.vendorWrites() - writes; got != 6 {
		t.Errorf("vendor writes %d, want 6", got)
	}
}
