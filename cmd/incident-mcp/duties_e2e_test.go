package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/crypto/bcrypt"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/internal/browsertest"
)

// Two analysts call the server with bearer tokens; alice is also an
// approver, beside carol and dave.
const (
	aliceToken = "alice 0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	bobToken   = "bob 9f8e7d6c5b4a39281706f5e4d3c2b1a0"
)

func identityFiles(t *testing.T) (tokens, approvers string) {
	t.Helper()
	dir := t.TempDir()
	tokens = filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(aliceToken+"\n"+bobToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(approval.DemoPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	approvers = filepath.Join(dir, "approvers")
	var body strings.Builder
	for _, n := range []string{"alice", "carol", "dave"} {
		body.WriteString(n + ":" + string(h) + "\n")
	}
	if err := os.WriteFile(approvers, []byte(body.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return tokens, approvers
}

// eager answers every elicitation with accept + confirm: true, as any
// client can without asking anyone.
type eager struct{ asked atomic.Int32 }

func (e *eager) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.asked.Add(1)
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"confirm": true}}}, nil
}

// connectAs opens an MCP client to s with a bearer token, declaring form
// elicitation when h is not nil.
func (s *server) connectAs(t *testing.T, tokenLine string, h client.ElicitationHandler) *client.Client {
	t.Helper()
	_, secret, _ := strings.Cut(tokenLine, " ")
	tr, err := transport.NewStreamableHTTP(s.url+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secret}))
	if err != nil {
		t.Fatal(err)
	}
	var opts []client.ClientOption
	if h != nil {
		opts = append(opts, client.WithElicitationHandler(h))
	}
	c := client.NewClient(tr, opts...)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "analyst-client", Version: "1"}
	if h != nil {
		init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{}
	}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// crossing counts attempts to complete another principal's confirmation
// and the vendor writes they caused.
type crossing struct {
	v                *vendor
	attempts, writes int
}

func (x *crossing) try(t *testing.T, c *client.Client, args map[string]any) {
	t.Helper()
	x.attempts++
	before := x.v.total()
	res, _ := callTool(t, c, "update_incident", args)
	text := resultText(res)
	if d := x.v.total() - before; d != 0 {
		x.writes += d
		t.Errorf("another principal's confirmation wrote %d times: %s", d, text)
	}
	if !res.IsError || !(strings.Contains(text, "there is no approval request") || strings.Contains(text, "not a confirmation this server issued")) {
		t.Errorf("another principal's confirmation: want the answer for an unknown one, got %s", text)
	}
	if strings.Contains(text, "alice") {
		t.Errorf("the refusal names the other principal: %s", text)
	}
}

// TestIdentityOverHTTP drives the built binary over HTTP with two analysts
// (bearer tokens) and three approvers, one of them an analyst: an eager
// client's elicitation from an unlisted caller goes to the approval page;
// the other analyst cannot collect the approval, relay the token, or learn
// that they exist; the requester cannot approve their own change; identical
// requests share one approval; the audit names requester and approvers
// apart.
func TestIdentityOverHTTP(t *testing.T) {
	v := startVendor(t, 30)
	tokens, approvers := identityFiles(t)
	// --elicitation-by "" is the default: no HTTP caller's elicitation counts.
	srv := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--approvers", approvers,
		"--confirm-paths", "elicitation,approval", "--elicitation-by", "")
	aliceHuman := &eager{}
	alice := srv.connectAs(t, aliceToken, aliceHuman)
	bob := srv.connectAs(t, bobToken, nil)
	x := &crossing{v: v}
	selfRefused := 0

	target := firstOpen(t, alice, 0)
	id := target["id"].(string)
	args := map[string]any{"id": id, "severity": "high", "comment": "escalated by alice"}
	res, sc := callTool(t, alice, "update_incident", args)
	reqID, url := approvalOf(t, res, sc)
	if n := aliceHuman.asked.Load(); n != 0 || v.total() != 0 {
		t.Fatalf("an unlisted HTTP caller's elicitation was used: asked %d times, %d writes", n, v.total())
	}
	// The same change again: the same request, not a new one.
	for range 5 {
		res, sc = callTool(t, alice, "update_incident", args)
		if again, _ := approvalOf(t, res, sc); again != reqID {
			t.Fatalf("an identical request made a new approval %s (first %s)", again, reqID)
		}
	}

	collect := map[string]any{"id": id, "severity": "high", "comment": "escalated by alice", "approval_id": reqID}
	x.try(t, bob, collect) // pending
	if err := approvaltest.Approve(url, "alice", approval.DemoPassword); err == nil {
		t.Fatal("alice approved her own change")
	}
	selfRefused++
	if res, _ := callTool(t, alice, "update_incident", collect); !strings.Contains(resultText(res), "STILL PENDING") {
		t.Fatalf("after the self-approval attempt: %s", resultText(res))
	}
	if err := approvaltest.Approve(url, "carol", approval.DemoPassword); err != nil {
		t.Fatal(err)
	}
	x.try(t, bob, collect) // approved, not bob's
	res, _ = callTool(t, alice, "update_incident", collect)
	if !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("alice collects: %s", resultText(res))
	}
	x.try(t, bob, collect) // applied
	if v.total() == 0 {
		t.Fatal("alice's collect reached no vendor write")
	}

	// The token path: bob relays alice's token.
	tokenSrv := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--confirm-paths", "token")
	aliceT, bobT := tokenSrv.connectAs(t, aliceToken, nil), tokenSrv.connectAs(t, bobToken, nil)
	other := firstOpen(t, aliceT, 1)["id"].(string)
	targs := map[string]any{"id": other, "title": "renamed by alice"}
	_, sc = callTool(t, aliceT, "update_incident", targs)
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no token: %v", sc)
	}
	targs["confirmation_token"] = token
	x.try(t, bobT, targs)
	if res, _ := callTool(t, aliceT, "update_incident", targs); !strings.Contains(resultText(res), "APPLIED") {
		t.Fatalf("alice's own token: %s", resultText(res))
	}
	writes := v.total()

	recs := records(t, srv.audit)
	if len(recs) != 1 || recs[0].RequestedBy != "token:alice" || strings.Join(recs[0].ApprovedBy, ",") != "carol" || recs[0].Caller != "alice" {
		t.Errorf("audit: %+v", recs)
	}
	if recs := records(t, tokenSrv.audit); len(recs) != 1 || recs[0].RequestedBy != "token:alice" || recs[0].ApprovedBy == nil {
		t.Errorf("token audit: %+v", recs)
	}
	if x.writes != 0 {
		t.Errorf("%d writes from crossing attempts", x.writes)
	}
	t.Logf("cross-principal attempts: %d, writes from them: %d; self-approvals refused: %d; vendor write requests in all: %d (all from the owners' two changes)", x.attempts, x.writes, selfRefused, writes)
}

// TestFourEyesWithRequesterAmongApprovers: with two approvers required and
// the requester in the approvers file, the requester's approval never
// counts; it takes two others.
func TestFourEyesWithRequesterAmongApprovers(t *testing.T) {
	v := startVendor(t, 30)
	tokens, approvers := identityFiles(t)
	conf := filepath.Join(t.TempDir(), "incident-mcp.yaml")
	body := "instances:\n  - name: eset\n    vendor: eset\n    api_url: " + v.url + "\n    token_url: " + v.url + "/oauth/token\n    username: demo\n    password: demo\nconfirm:\n  paths: [approval]\n  approvers: 2\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, true, nil, "--config", conf, "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval")
	alice := srv.connectAs(t, aliceToken, nil)
	id := firstOpen(t, alice, 0)["id"].(string)
	args := map[string]any{"id": id, "status": "closed", "resolution": "false_positive"}
	res, sc := callTool(t, alice, "update_incident", args)
	reqID, url := approvalOf(t, res, sc)
	args["approval_id"] = reqID

	refused := 0
	if err := approvaltest.Approve(url, "alice", approval.DemoPassword); err == nil {
		t.Fatal("the requester approved")
	}
	refused++
	if err := approvaltest.Approve(url, "carol", approval.DemoPassword); err != nil {
		t.Fatal(err)
	}
	res, _ = callTool(t, alice, "update_incident", args)
	if text := resultText(res); !strings.Contains(text, "1 of 2 approvals") || strings.Contains(text, "no approver has decided") || v.total() != 0 {
		t.Fatalf("after one of two: %s (%d writes)", text, v.total())
	}
	if err := approvaltest.Approve(url, "alice", approval.DemoPassword); err == nil {
		t.Fatal("the requester approved as the second approver")
	}
	refused++
	if err := approvaltest.Approve(url, "dave", approval.DemoPassword); err != nil {
		t.Fatal(err)
	}
	res, _ = callTool(t, alice, "update_incident", args)
	if !strings.Contains(resultText(res), "APPLIED") || v.total() == 0 {
		t.Fatalf("after carol and dave: %s", resultText(res))
	}
	recs := records(t, srv.audit)
	if len(recs) != 1 || recs[0].RequestedBy != "token:alice" || strings.Join(recs[0].ApprovedBy, ",") != "carol,dave" {
		t.Errorf("audit: %+v", recs)
	}
	t.Logf("four-eyes: self-approvals refused %d; approved by %v; vendor writes %d", refused, recs[0].ApprovedBy, v.total())
}

// TestApprovalPageShowsHiddenCharacters: a title with a bidi override, a
// zero-width space and a control character is shown on the page with each
// of them written out and a warning, while the vendor stores the value
// exactly as asked.
func TestApprovalPageShowsHiddenCharacters(t *testing.T) {
	v := startVendor(t, 30)
	tokens, approvers := identityFiles(t)
	srv := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval")
	alice := srv.connectAs(t, aliceToken, nil)
	id := firstOpen(t, alice, 0)["id"].(string)
	title := "Benign: \u202eexe.llik-ot-dnammoc\u202c re\u200bviewed\x07"
	args := map[string]any{"id": id, "title": title}
	res, sc := callTool(t, alice, "update_incident", args)
	reqID, url := approvalOf(t, res, sc)

	b := browsertest.New(t)
	b.Open(url)
	b.SignIn("carol", approval.DemoPassword)
	page := b.Text()
	b.Screenshot(browsertest.ArtifactDir(t), "hidden-characters")
	for _, want := range []string{"Benign: ⟨U+202E⟩exe.llik-ot-dnammoc⟨U+202C⟩ re⟨U+200B⟩viewed⟨U+0007⟩", "invisible, bidirectional or control characters", "Requested by", "alice", "bearer token", "analyst-client 1", "Expires"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "command-to-kill.exe") || strings.Contains(page, "\u202e") {
		t.Errorf("the page renders the override live:\n%s", page)
	}
	b.Press("Approve")
	args["approval_id"] = reqID
	if res, _ := callTool(t, alice, "update_incident", args); !strings.Contains(resultText(res), "APPLIED") {
		t.Fatalf("collect: %s", resultText(res))
	}
	_, native, _ := strings.Cut(id, ":")
	for _, inc := range v.sim.Incidents() {
		if inc.UUID == native && inc.DisplayName != title {
			t.Errorf("the vendor stores %q, want %q", inc.DisplayName, title)
		}
	}
	t.Logf("page shows %q; vendor stores %q", "Benign: ⟨U+202E⟩exe.llik-ot-dnammoc⟨U+202C⟩ re⟨U+200B⟩viewed⟨U+0007⟩", title)
}
