package confirm_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/schema"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const password = "correct horse"

// people are approvers with one password; alice and bob are also callers.
type people []string

func (p people) Check(name, pw string) (string, bool) {
	for _, n := range p {
		if n == name && pw == password {
			return n, true
		}
	}
	return "", false
}

var (
	alice = caller.Identity{Name: "alice", Method: caller.MethodToken}
	bob   = caller.Identity{Name: "bob", Method: caller.MethodToken}
	local = caller.Local("alice")
	anon  = caller.Identity{Method: caller.MethodNone}
)

type fixture struct {
	env    *demotest.Env
	svc    *incidents.Service
	engine *confirm.Engine
	page   *approval.Page
	audit  string
	skew   atomic.Int64
	// attempts and writes count what crossed a principal, for the log.
	attempts, writes int
}

func newFixture(t *testing.T, o confirm.Options) *fixture {
	t.Helper()
	return newFixtureWith(t, o, nil)
}

// newFixtureWith is newFixture with access rules over the demo instances
// (nil rules: no access section).
func newFixtureWith(t *testing.T, o confirm.Options, rules []access.Rule) *fixture {
	t.Helper()
	env, err := demotest.Start(demotest.Options{Seed: 11, Incidents: 50, Now: now, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	log, err := audit.Open(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	clock := func() time.Time { return now.Add(time.Duration(f.skew.Load())) }
	opts := []incidents.Option{incidents.WithClock(clock), incidents.WithAudit(log)}
	if rules != nil {
		var names []string
		for _, in := range env.Instances {
			names = append(names, in.Name)
		}
		pol, err := access.New(rules, names)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, incidents.WithAccess(pol))
	}
	f.svc, err = incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	f.page, err = approval.NewPage(approval.Config{Store: approval.NewMemStore(), Approvers: people{"alice", "bob", "carol"}, BaseURL: hs.URL, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f.page.Register(mux)
	o.Approval = f.page
	f.engine = confirm.New(f.svc, o)
	return f
}

// openESET returns the id of the n-th open ESET incident.
func (f *fixture) openESET(t *testing.T, n int) string {
	t.Helper()
	res, err := f.svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{"eset"}, Filter: schema.Filter{Status: []string{"open"}}, PageSize: n + 1})
	if err != nil || len(res.Incidents) <= n {
		t.Fatalf("no open incident %d: %v", n, err)
	}
	return res.Incidents[n].ID
}

// vendorWrites counts the writes the ESET simulator received.
func (f *fixture) vendorWrites() int {
	n := 0
	for route, c := range f.env.ESET.Stats().ByPath {
		if strings.HasPrefix(route, "POST ") && !strings.Contains(route, "oauth") {
			n += c
		}
	}
	return n
}

func (f *fixture) outcomes(t *testing.T) []audit.Record {
	t.Helper()
	recs, _, err := audit.Read(f.audit)
	if err != nil {
		t.Fatal(err)
	}
	return audit.Outcomes(recs)
}

// cross presents a confirmation as the wrong principal: it must be refused
// as an unknown one, and write nothing.
func (f *fixture) cross(t *testing.T, who caller.Identity, cf confirm.Confirmation, c confirm.Client, arg string) {
	t.Helper()
	f.attempts++
	before := f.vendorWrites()
	out, err := f.engine.Confirm(t.Context(), who, cf, c)
	if after := f.vendorWrites(); after != before {
		f.writes += after - before
		t.Errorf("%s's confirmation presented by %s wrote %d times", cf.Proof[:min(8, len(cf.Proof))], who.Key(), after-before)
	}
	if err == nil {
		t.Fatalf("another principal's confirmation was not refused: %+v", out)
	}
	msg := err.Error()
	if !strings.Contains(msg, arg) || !(strings.Contains(msg, "not a confirmation this server issued") || strings.Contains(msg, "there is no approval request")) {
		t.Errorf("the refusal should read as for an unknown confirmation, naming %s: %v", arg, err)
	}
	for _, leak := range []string{"alice", "bob", "another principal", "belongs"} {
		if strings.Contains(msg, leak) {
			t.Errorf("the refusal reveals %q: %v", leak, err)
		}
	}
}

func severity(s schema.Severity) *schema.Severity { return &s }

// TestCrossPrincipal: an elicitation state, a confirmation token and an
// approval id issued to one principal are refused, as unknown ones, to any
// other; nothing is written; the owner can still use them once.
func TestCrossPrincipal(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: &approval.Policy{
		Rule: approval.Rule{Paths: approval.Paths{approval.PathElicitation, approval.PathApproval, approval.PathToken}}, ElicitationBy: []string{"*"}}})
	form := confirm.Client{Name: "c 1", Form: true}
	plain := confirm.Client{Name: "c 1"}
	others := []caller.Identity{bob, anon, local, {Name: "alice", Method: caller.MethodOAuth, Issuer: "https://idp.example"}}

	// Elicitation.
	id := f.openESET(t, 0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	pd, err := f.engine.Propose(t.Context(), alice, id, p, form)
	if err != nil || pd.Path != approval.PathElicitation || pd.State == "" {
		t.Fatalf("propose: %+v %v", pd, err)
	}
	cf := confirm.Confirmation{Kind: confirm.KindElicitation, ID: id, Patch: p, Proof: pd.State, Answer: confirm.AnswerConfirmed}
	for _, o := range others {
		f.cross(t, o, cf, form, "requestState")
	}
	if out, err := f.engine.Confirm(t.Context(), alice, cf, form); err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("the owner's answer: %+v %v", out, err)
	}

	// Token.
	id = f.openESET(t, 1)
	pd, err = f.engine.Propose(t.Context(), alice, id, p, plain)
	if err != nil || pd.Path != approval.PathToken {
		t.Fatalf("propose: %+v %v", pd, err)
	}
	cf = confirm.Confirmation{Kind: confirm.KindToken, ID: id, Patch: p, Proof: pd.Token}
	for _, o := range others {
		f.cross(t, o, cf, plain, "confirmation_token")
	}
	if out, err := f.engine.Confirm(t.Context(), alice, cf, plain); err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("the owner's token: %+v %v", out, err)
	}

	// Approval: approved by bob, collected by everyone but alice first.
	f2 := newFixture(t, confirm.Options{})
	id = f2.openESET(t, 0)
	pd, err = f2.engine.Propose(t.Context(), alice, id, p, plain)
	if err != nil || pd.Path != approval.PathApproval {
		t.Fatalf("propose: %+v %v", pd, err)
	}
	// While pending, another principal learns nothing of it either.
	for _, o := range others {
		f2.attempts, f2.writes = 0, 0
		f2.cross(t, o, confirm.Confirmation{Kind: confirm.KindApproval, ID: id, Patch: p, Proof: pd.Approval.ID}, plain, "approval_id")
		f.attempts += f2.attempts
		f.writes += f2.writes
	}
	if err := approvaltest.Approve(pd.Approval.URL, "bob", password); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []confirm.Kind{confirm.KindApproval, confirm.KindPageOpened} {
		cf = confirm.Confirmation{Kind: kind, ID: id, Patch: p, Proof: pd.Approval.ID, Answer: confirm.AnswerConfirmed}
		for _, o := range others {
			f2.attempts, f2.writes = 0, 0
			f2.cross(t, o, cf, confirm.Client{URL: true}, "approval_id")
			f.attempts += f2.attempts
			f.writes += f2.writes
		}
	}
	cf.Kind = confirm.KindApproval
	out, err := f2.engine.Confirm(t.Context(), alice, cf, plain)
	if err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("the owner's collect: %+v %v", out, err)
	}
	recs := f2.outcomes(t)
	if len(recs) != 1 || recs[0].RequestedBy != "token:alice" || len(recs[0].ApprovedBy) != 1 || recs[0].ApprovedBy[0] != "bob" {
		t.Errorf("audit: %+v", recs)
	}
	t.Logf("cross-principal attempts: %d, writes: %d", f.attempts, f.writes)
}

// TestSelfApproval: a requester who is also an approver cannot approve
// their own change, on the page or through the store; four-eyes counts two
// approvers other than the requester.
func TestSelfApproval(t *testing.T) {
	f := newFixture(t, confirm.Options{Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathApproval}, Approvers: 2}}})
	id := f.openESET(t, 0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	pd, err := f.engine.Propose(t.Context(), alice, id, p, confirm.Client{})
	if err != nil || pd.Path != approval.PathApproval || pd.Approval.Needed != 2 {
		t.Fatalf("propose: %+v %v", pd, err)
	}
	refused := 0
	a, _, err := approvaltest.SignIn(pd.Approval.URL, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := a.Decide(pd.Approval.URL, true)
	if err != nil || code != http.StatusForbidden || !strings.Contains(body, "you cannot approve it") {
		t.Fatalf("self-approval on the page: %d %v\n%s", code, err, body)
	}
	refused++
	if _, err := f.page.Store().Decide(t.Context(), pd.Approval.ID, approval.Decision{By: "alice", At: now}, true); err == nil {
		t.Fatal("the store took a self-approval")
	}
	refused++

	collect := confirm.Confirmation{Kind: confirm.KindApproval, ID: id, Patch: p, Proof: pd.Approval.ID}
	if err := approvaltest.Approve(pd.Approval.URL, "bob", password); err != nil {
		t.Fatal(err)
	}
	out, err := f.engine.Confirm(t.Context(), alice, collect, confirm.Client{})
	if err != nil || out.Status != confirm.StatusPending || !strings.Contains(out.Reason, "1 of 2 approvals") {
		t.Fatalf("after one of two approvals: %+v %v", out, err)
	}
	if strings.Contains(out.Reason, "no approver has decided") {
		t.Errorf("misleading: %s", out.Reason)
	}
	if err := approvaltest.Approve(pd.Approval.URL, "carol", password); err != nil {
		t.Fatal(err)
	}
	out, err = f.engine.Confirm(t.Context(), alice, collect, confirm.Client{})
	if err != nil || out.Status != confirm.StatusApplied {
		t.Fatalf("after bob and carol: %+v %v", out, err)
	}
	recs := f.outcomes(t)
	if len(recs) != 1 || recs[0].RequestedBy != "token:alice" || strings.Join(recs[0].ApprovedBy, ",") != "bob,carol" {
		t.Errorf("audit: %+v", recs)
	}

	// The local user of a stdio server is the same person as the
	// approver of that name.
	id = f.openESET(t, 1)
	pd, err = f.engine.Propose(t.Context(), local, id, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := approvaltest.Approve(pd.Approval.URL, "alice", password); err == nil {
		t.Error("the local user alice approved her own change")
	}
	refused++
	t.Logf("self-approvals refused: %d", refused)
}

// TestElicitationPolicy: whose elicitation counts decides the path: the
// local user's always, an HTTP caller's only when listed; the others go to
// the approval page, and their elicitation answers are refused.
func TestElicitationPolicy(t *testing.T) {
	form := confirm.Client{Form: true}
	for _, tc := range []struct {
		name string
		by   []string
		who  caller.Identity
		want approval.Path
	}{
		{"local user", nil, local, approval.PathElicitation},
		{"token caller not listed", nil, alice, approval.PathApproval},
		{"anonymous loopback", nil, anon, approval.PathApproval},
		{"listed by name", []string{"alice"}, alice, approval.PathElicitation},
		{"other name listed", []string{"bob"}, alice, approval.PathApproval},
		{"listed by group", []string{"group:soc"}, caller.Identity{Name: "x", Method: caller.MethodOAuth, Groups: []string{"soc"}}, approval.PathElicitation},
		{"listed by scope", []string{"scope:incidents:confirm"}, caller.Identity{Name: "x", Method: caller.MethodOAuth, Scopes: []string{"incidents:confirm"}}, approval.PathElicitation},
		{"everyone", []string{"*"}, anon, approval.PathElicitation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, confirm.Options{Policy: &approval.Policy{ElicitationBy: tc.by}})
			id := f.openESET(t, 0)
			p := schema.Patch{Severity: severity(schema.SeverityHigh)}
			pd, err := f.engine.Propose(t.Context(), tc.who, id, p, form)
			if err != nil || pd.Path != tc.want {
				t.Fatalf("path %v (%v), want %s", pd, err, tc.want)
			}
			if tc.want == approval.PathElicitation {
				return
			}
			// A state sealed for someone whose elicitation counts is
			// refused to one whose does not, with nothing written.
			before := f.vendorWrites()
			_, err = f.engine.Confirm(t.Context(), tc.who, confirm.Confirmation{Kind: confirm.KindElicitation, ID: id, Patch: p, Proof: "x.y", Answer: confirm.AnswerConfirmed}, form)
			if err == nil || f.vendorWrites() != before {
				t.Fatalf("an unlisted caller's elicitation answer: %v", err)
			}
		})
	}
	// Without an approval page, an unlisted caller with an elicitation-only
	// policy is told why it cannot write.
	f := newFixture(t, confirm.Options{ElicitationOnly: true})
	_, err := f.engine.Propose(t.Context(), alice, f.openESET(t, 0), schema.Patch{Severity: severity(schema.SeverityHigh)}, form)
	if err == nil || !strings.Contains(err.Error(), "does not accept elicitation from alice") {
		t.Errorf("elicitation-only, unlisted caller: %v", err)
	}
}

// TestApprovalDedupAndCap: one principal asking for the same change twice
// gets the same approval request; distinct changes stop at the cap with a
// clear error; another principal has a cap of its own.
func TestApprovalDedupAndCap(t *testing.T) {
	const limit = 3
	f := newFixture(t, confirm.Options{MaxPending: limit})
	id := f.openESET(t, 0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	first, err := f.engine.Propose(t.Context(), alice, id, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := f.engine.Propose(t.Context(), alice, id, p, confirm.Client{})
		if err != nil || again.Approval.ID != first.Approval.ID || !again.Approval.Reused {
			t.Fatalf("identical request: %+v %v", again, err)
		}
	}
	// Another principal's identical change is its own request.
	other, err := f.engine.Propose(t.Context(), bob, id, p, confirm.Client{})
	if err != nil || other.Approval.ID == first.Approval.ID {
		t.Fatalf("bob's request: %+v %v", other, err)
	}
	created := 1
	var capErr error
	for i := 1; i < 10 && capErr == nil; i++ {
		c := fmt.Sprintf("note %d", i)
		if _, capErr = f.engine.Propose(t.Context(), alice, id, schema.Patch{Comment: &c}, confirm.Client{}); capErr == nil {
			created++
		}
	}
	if created != limit || capErr == nil || !strings.Contains(capErr.Error(), "already has 3 approval requests waiting") {
		t.Fatalf("created %d before the cap (want %d): %v", created, limit, capErr)
	}
	// A decided request frees its place.
	if err := approvaltest.Approve(first.Approval.URL, "bob", password); err != nil {
		t.Fatal(err)
	}
	c := "after a decision"
	if _, err := f.engine.Propose(t.Context(), alice, id, schema.Patch{Comment: &c}, confirm.Client{}); err != nil {
		t.Errorf("after a decision: %v", err)
	}
	t.Logf("20 identical requests → 1 approval; cap %d → refused the %dth", limit, limit+1)
}

// TestApprovalExpiredAfterApproval: an approval collected after its expiry
// says so, naming approval_id, not confirmation_token.
func TestApprovalExpiredAfterApproval(t *testing.T) {
	f := newFixture(t, confirm.Options{})
	id := f.openESET(t, 0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	pd, err := f.engine.Propose(t.Context(), alice, id, p, confirm.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if err := approvaltest.Approve(pd.Approval.URL, "bob", password); err != nil {
		t.Fatal(err)
	}
	f.skew.Store(int64(incidents.ConfirmTTL + time.Second))
	out, err := f.engine.Confirm(t.Context(), alice, confirm.Confirmation{Kind: confirm.KindApproval, ID: id, Patch: p, Proof: pd.Approval.ID}, confirm.Client{})
	if err != nil || out.Status != confirm.StatusDeclined || !strings.Contains(out.Reason, "approval expired") || strings.Contains(out.Reason, "confirmation_token") {
		t.Fatalf("expired approval: %+v %v", out, err)
	}
	if n := f.vendorWrites(); n != 0 {
		t.Errorf("%d writes", n)
	}
}

// TestApprovalDedupConcurrent: identical requests at once still make one
// approval request.
func TestApprovalDedupConcurrent(t *testing.T) {
	f := newFixture(t, confirm.Options{})
	id := f.openESET(t, 0)
	p := schema.Patch{Severity: severity(schema.SeverityHigh)}
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			pd, err := f.engine.Propose(t.Context(), alice, id, p, confirm.Client{})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- pd.Approval.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for a := range ids {
		seen[a] = true
	}
	if len(seen) != 1 {
		t.Errorf("%d concurrent identical requests made %d approval requests", n, len(seen))
	}
}
