package confirm_test

import (
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

var (
	dave = caller.Identity{Name: "dave", Method: caller.MethodToken}
	erin = caller.Identity{Name: "erin", Method: caller.MethodToken}
)

// TestViewDecide: deciding in the change view takes a principal the
// operator named among the view approvers AND the approve right on the
// instance; to anyone else the request does not exist. The requester never
// approves; a decision counts once; four-eyes mixes the view and the page
// by name; the change applies once, when the requester collects it, and
// the audit names the approvers.
func TestViewDecide(t *testing.T) {
	rules := []access.Rule{
		{Who: []string{"alice", "bob", "erin"}, Instances: []string{"*"}, Rights: []string{"write", "approve"}},
		{Who: []string{"dave"}, Instances: []string{"*"}, Rights: []string{"read"}},
	}
	f := newFixtureWith(t, confirm.Options{Policy: &approval.Policy{
		Rule:          approval.Rule{Paths: approval.Paths{approval.PathApproval}},
		Changes:       map[schema.PatchField]approval.Rule{schema.PatchClose: {Approvers: 2}},
		ViewApprovers: []string{"alice", "bob", "dave"},
	}}, rules)
	names := []string{"eset"}
	for _, c := range []struct {
		who  caller.Identity
		want bool
	}{{alice, true}, {bob, true}, {dave, false}, {erin, false}, {anon, false}} {
		if got := f.engine.ViewDecides(c.who, names); got != c.want {
			t.Errorf("ViewDecides(%s) = %v, want %v", c.who.Key(), got, c.want)
		}
	}

	// Alice's calls carry her principal, as the transport sets it: the
	// service checks her rights.
	asAlice := caller.With(t.Context(), alice)
	open := func(n int) string {
		t.Helper()
		res, err := f.svc.Query(asAlice, incidents.QueryRequest{Instances: []string{"eset"}, Filter: schema.Filter{Status: []string{"open"}}, PageSize: n + 1})
		if err != nil || len(res.Incidents) <= n {
			t.Fatalf("no open incident %d: %v", n, err)
		}
		return res.Incidents[n].ID
	}
	id := open(0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	pd, err := f.engine.Propose(asAlice, alice, id, p, confirm.Client{})
	if err != nil || pd.Path != approval.PathApproval {
		t.Fatalf("propose: %+v %v", pd, err)
	}
	aid := pd.Approval.ID
	unknown := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "there is no approval request") {
			t.Errorf("%s: want the answer for an unknown request, got %v", what, err)
		}
	}
	refused := 0
	// erin may approve on the page but is no view approver; dave is one
	// but may not approve; the anonymous caller is nobody.
	for _, who := range []caller.Identity{erin, dave, anon} {
		_, err := f.engine.ViewApproval(t.Context(), who, aid)
		unknown(who.Key()+" reads", err)
		_, err = f.engine.ViewDecide(t.Context(), who, aid, true)
		unknown(who.Key()+" approves", err)
		refused++
	}
	// The requester sees her own request, offered no approval.
	v, err := f.engine.ViewApproval(t.Context(), alice, aid)
	if err != nil || !v.Mine || v.MayApprove || !v.MayReject || !strings.Contains(v.WhyNot, "you asked") {
		t.Fatalf("alice's view: %+v %v", v, err)
	}
	if _, err := f.engine.ViewDecide(t.Context(), alice, aid, true); err == nil || !strings.Contains(err.Error(), "you asked for this change") {
		t.Fatalf("alice approved her own change in the view: %v", err)
	}
	refused++
	v, err = f.engine.ViewApproval(t.Context(), bob, aid)
	if err != nil || v.Mine || !v.MayApprove || v.Requester != "alice" || len(v.Changes) != 1 {
		t.Fatalf("bob's view: %+v %v", v, err)
	}
	if f.vendorWrites() != 0 {
		t.Fatal("written before any approval")
	}
	v, err = f.engine.ViewDecide(t.Context(), bob, aid, true)
	if err != nil || v.State != approval.StateApproved || v.MayApprove {
		t.Fatalf("bob approves: %+v %v", v, err)
	}
	if f.vendorWrites() != 0 {
		t.Fatal("the approval itself wrote")
	}
	if _, err := f.engine.ViewDecide(t.Context(), bob, aid, false); err == nil || !strings.Contains(err.Error(), "already decided") {
		t.Errorf("bob decides again: %v", err)
	}
	collect := confirm.Confirmation{Kind: confirm.KindApproval, ID: id, Patch: p, Proof: aid}
	out, err := f.engine.Confirm(asAlice, alice, collect, confirm.Client{})
	if err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("alice collects: %+v %v", out, err)
	}
	writes := f.vendorWrites()
	if _, err := f.engine.Confirm(asAlice, alice, collect, confirm.Client{}); err == nil {
		t.Error("collected twice")
	}
	if f.vendorWrites() != writes {
		t.Errorf("replay wrote: %d → %d", writes, f.vendorWrites())
	}

	// Four-eyes: bob in the view, then bob again (refused), then carol on
	// the page.
	id = open(1)
	p = schema.Patch{Status: new(schema.StatusClosed), Resolution: new(schema.Resolution("false_positive"))}
	pd, err = f.engine.Propose(asAlice, alice, id, p, confirm.Client{})
	if err != nil || pd.Approval.Needed != 2 {
		t.Fatalf("propose close: %+v %v", pd, err)
	}
	if v, err := f.engine.ViewDecide(t.Context(), bob, pd.Approval.ID, true); err != nil || v.State != approval.StatePending || v.Approvals != 1 {
		t.Fatalf("bob, first of two: %+v %v", v, err)
	}
	if _, err := f.engine.ViewDecide(t.Context(), bob, pd.Approval.ID, true); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Errorf("bob twice: %v", err)
	}
	if err := approvaltest.Approve(pd.Approval.URL, "bob", password); err == nil {
		t.Error("bob counted again on the page")
	}
	if err := approvaltest.Approve(pd.Approval.URL, "carol", password); err != nil {
		t.Fatal(err)
	}
	out, err = f.engine.Confirm(asAlice, alice, confirm.Confirmation{Kind: confirm.KindApproval, ID: id, Patch: p, Proof: pd.Approval.ID}, confirm.Client{})
	if err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("after bob (view) and carol (page): %+v %v", out, err)
	}
	recs := f.outcomes(t)
	if len(recs) != 2 || strings.Join(recs[0].ApprovedBy, ",") != "bob" || strings.Join(recs[1].ApprovedBy, ",") != "bob,carol" {
		t.Errorf("audit: %+v", recs)
	}
	r, _ := f.page.Store().Get(t.Context(), pd.Approval.ID)
	if r.Approvals[0].Via != approval.ViaView || r.Approvals[1].Via != approval.ViaPage {
		t.Errorf("decisions recorded via %+v", r.Approvals)
	}
	t.Logf("view decisions refused: %d (not named, no approve right, anonymous, the requester); vendor writes %d after two applied changes", refused, f.vendorWrites())
}

// TestViewDecideOff: without view approvers nobody decides in the view,
// whatever their rights.
func TestViewDecideOff(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathApproval}}}})
	if f.engine.ViewDecides(bob, []string{"eset"}) {
		t.Fatal("bob decides in views without view approvers")
	}
	id := f.openESET(t, 0)
	pd, err := f.engine.Propose(t.Context(), alice, id, schema.Patch{Severity: severity(schema.SeverityHigh)}, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.ViewDecide(t.Context(), bob, pd.Approval.ID, true); err == nil || !strings.Contains(err.Error(), "there is no approval request") {
		t.Errorf("bob decided: %v", err)
	}
}
