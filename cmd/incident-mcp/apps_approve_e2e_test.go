package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/apps"
	"github.com/incident-mcp/incident-mcp/internal/browsertest"
)

// connectViews opens an MCP client to s as the principal of tokenLine that
// declares MCP Apps (as a view host does).
func (s *server) connectViews(t *testing.T, tokenLine string) *client.Client {
	t.Helper()
	_, secret, _ := strings.Cut(tokenLine, " ")
	tr, err := transport.NewStreamableHTTP(s.url+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secret}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "views-e2e", Version: "1"}
	init.Params.Capabilities.Extensions = map[string]any{apps.Extension: map[string]any{}}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c
}

func toolNames(t *testing.T, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

// TestApproveInViewInBrowser: the built binary over HTTP with bearer
// tokens, the approval path only, and --view-approvers naming alice and
// bob. Alice asks for a change from the ext-apps host page in headless
// Chromium: her own change view shows the stored diff and offers no
// Approve. Bob's host renders the same result: his view offers Approve,
// he presses it, alice collects and the change applies once; collecting
// again, and bob deciding again, write nothing more. The requester's
// approval through the tool and the tool itself for a caller who is no
// view approver, or whose client declares no views, are refused.
func TestApproveInViewInBrowser(t *testing.T) {
	b := browsertest.New(t, browsertest.InProcessFrames)
	hostDir := appsHost(t)
	v := startVendor(t, 30)
	tokens, approvers := identityFiles(t)
	srv := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--approvers", approvers,
		"--confirm-paths", "approval", "--view-approvers", "alice,bob")
	target, _ := url.Parse(srv.url)
	mux := http.NewServeMux()
	mux.Handle("/mcp", httputil.NewSingleHostReverseProxy(target))
	mux.Handle("/", http.FileServer(http.Dir(hostDir)))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	shots := screenshotDir(t)
	secret := func(line string) string { _, s, _ := strings.Cut(line, " "); return s }
	lastCall := func() map[string]any {
		return browsertest.Eval[map[string]any](b, `host.calls[host.calls.length-1]`)
	}
	frameText := func(id string) string {
		return browsertest.FrameEval[string](b, `document.getElementById("`+id+`").textContent`)
	}
	hidden := func(id string) bool {
		return browsertest.FrameEval[bool](b, `document.getElementById("`+id+`").hidden`)
	}

	alice := srv.connectViews(t, aliceToken)
	// A client with views reads a list summary; a plain one the page.
	id := firstOpen(t, srv.connectAs(t, aliceToken, nil), 0)["id"].(string)
	args := map[string]any{"id": id, "severity": "high"}

	// Alice asks in her host; her view is the requester's.
	b.Resize(1000, 700)
	b.Open(hs.URL)
	b.WaitFor("the host script", `typeof window.host === "object"`)
	names := browsertest.Eval[[]string](b, `host.connect("`+secret(aliceToken)+`")`)
	if !slices.Contains(names, "incidents_view_decide") {
		t.Fatalf("alice (a view approver) is not offered the decide tool: %v", names)
	}
	// App-only: the host keeps it from the model (this host refuses a
	// view's call to any tool without "app").
	if vis := browsertest.Eval[[]string](b, `host.tools.find((t) => t.name === "incidents_view_decide")._meta.ui.visibility`); !slices.Equal(vis, []string{"app"}) {
		t.Errorf("incidents_view_decide visibility %v, want [app]", vis)
	}
	argsJSON, _ := json.Marshal(args)
	result := browsertest.Eval[map[string]any](b, `host.run("update_incident", `+string(argsJSON)+`)`)
	sc, _ := result["structuredContent"].(map[string]any)
	ap, _ := sc["approval"].(map[string]any)
	reqID, _ := ap["id"].(string)
	if reqID == "" {
		t.Fatalf("no approval request: %v", result)
	}
	b.WaitInFrame("alice's view of her request", `document.getElementById("who").textContent.startsWith("requested by")`)
	if c := lastCall(); c["name"] != "incidents_view_approval" {
		t.Errorf("the view read the request through %v", c)
	}
	if who := frameText("who"); who != "requested by alice (you)" {
		t.Errorf("alice's view says %q", who)
	}
	if !hidden("approve") {
		t.Error("the requester's own view offers Approve")
	}
	if why := frameText("decided"); !strings.Contains(why, "you asked for this change") {
		t.Errorf("the requester's view says %q", why)
	}
	b.Screenshot(shots, "change-view-requester")

	// The requester calling the tool herself (a host ignoring what the
	// view shows, or a model let through) is refused.
	res, _ := callTool(t, alice, "incidents_view_decide", map[string]any{"approval_id": reqID, "decision": "approve"})
	if !res.IsError || !strings.Contains(resultText(res), "you asked for this change") {
		t.Errorf("alice approving her own change in the view: %s", resultText(res))
	}

	// Bob's host renders the same result (another session, another
	// principal): his view offers Approve over the stored diff.
	names = browsertest.Eval[[]string](b, `host.connect("`+secret(bobToken)+`")`)
	if !slices.Contains(names, "incidents_view_decide") {
		t.Fatalf("bob is not offered the decide tool: %v", names)
	}
	resultJSON, _ := json.Marshal(result)
	browsertest.Eval[bool](b, `host.show("`+apps.ChangeURI+`", `+string(argsJSON)+`, `+string(resultJSON)+`).then(() => true)`)
	b.WaitInFrame("bob's view of the request", `document.getElementById("who").textContent.startsWith("requested by")`)
	if who := frameText("who"); who != "requested by alice" {
		t.Errorf("bob's view says %q", who)
	}
	if hidden("approve") || hidden("reject") {
		t.Fatalf("bob's view offers no decision: %s", frameText("decided"))
	}
	fields := browsertest.FrameEval[[]string](b, `[...document.querySelectorAll("#rows td").values()].map(e => e.textContent)`)
	if strings.Join(fields, "|") != "severity|"+fieldFrom(t, sc, "severity")+"|high" {
		t.Errorf("bob's view shows the diff %v", fields)
	}
	b.Screenshot(shots, "change-view-approver")
	if v.total() != 0 {
		t.Fatalf("%d vendor writes before the approval", v.total())
	}
	browsertest.FrameEval[bool](b, `document.getElementById("approve").click(), true`)
	b.WaitInFrame("the decision", `document.getElementById("decided").textContent !== ""`)
	if got := frameText("decided"); got != "Approved (1 of 1)." {
		t.Fatalf("after Approve the view says %q", got)
	}
	if c := lastCall(); c["name"] != "incidents_view_decide" {
		t.Errorf("Approve called %v", c)
	}
	if !hidden("approve") {
		t.Error("the view still offers Approve on an approved request")
	}
	b.Screenshot(shots, "change-view-approved")
	if v.total() != 0 {
		t.Fatalf("the approval itself wrote %d times", v.total())
	}

	// Alice collects: applied once.
	collect := map[string]any{"id": id, "severity": "high", "approval_id": reqID}
	res, _ = callTool(t, alice, "update_incident", collect)
	if !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("alice collects: %s", resultText(res))
	}
	writes := v.total()
	if writes == 0 {
		t.Fatal("no vendor write after the collect")
	}

	// Replays: alice collects again, bob decides again, in the view and
	// through the tool.
	if res, _ := callTool(t, alice, "update_incident", collect); !res.IsError || !strings.Contains(resultText(res), "nothing was written") {
		t.Errorf("collecting again: %s", resultText(res))
	}
	bob := srv.connectViews(t, bobToken)
	for _, d := range []string{"approve", "reject"} {
		if res, _ := callTool(t, bob, "incidents_view_decide", map[string]any{"approval_id": reqID, "decision": d}); !res.IsError || !strings.Contains(resultText(res), "already decided") {
			t.Errorf("bob's second decision (%s): %s", d, resultText(res))
		}
	}
	if v.total() != writes {
		t.Errorf("replays wrote: %d → %d", writes, v.total())
	}

	// Without the extension, or as a caller the operator did not name
	// (a page approver's token would be the same), the tool does not exist.
	plainBob := srv.connectAs(t, bobToken, nil)
	if slices.Contains(toolNames(t, plainBob), "incidents_view_decide") {
		t.Error("a client without views is offered the decide tool")
	}
	if _, err := plainBob.CallTool(t.Context(), decideReq(reqID)); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a client without views called the decide tool: %v", err)
	}

	recs := records(t, srv.audit)
	if len(recs) != 1 || recs[0].Outcome != "applied" || recs[0].RequestedBy != "token:alice" || strings.Join(recs[0].ApprovedBy, ",") != "bob" {
		t.Errorf("audit: %+v", recs)
	}
	t.Logf("approved in bob's view, collected by alice: vendor write requests %d after the approval, %d after the replays (collect again, approve and reject again); applied audit records %d approved_by %v; screenshots in %s",
		writes, v.total(), len(recs), recs[0].ApprovedBy, shots)
}

// TestViewDecideNotForOthers: a server without --view-approvers offers the
// decide tool to nobody; with it, a caller it does not name is not offered
// the tool and cannot call it.
func TestViewDecideNotForOthers(t *testing.T) {
	v := startVendor(t, 10)
	tokens, approvers := identityFiles(t)
	off := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval")
	if names := toolNames(t, off.connectViews(t, bobToken)); slices.Contains(names, "incidents_view_decide") || slices.Contains(names, "incidents_view_approval") {
		t.Errorf("without --view-approvers: %v", names)
	}
	on := startServer(t, true, v.env(), "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval", "--view-approvers", "bob")
	alice := on.connectViews(t, aliceToken)
	if slices.Contains(toolNames(t, alice), "incidents_view_decide") {
		t.Error("alice, not a view approver, is offered the decide tool")
	}
	id := firstOpen(t, on.connectAs(t, aliceToken, nil), 0)["id"].(string)
	_, sc := callTool(t, alice, "update_incident", map[string]any{"id": id, "title": "asked by alice"})
	ap, _ := sc["approval"].(map[string]any)
	reqID, _ := ap["id"].(string)
	if _, err := alice.CallTool(t.Context(), decideReq(reqID)); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("alice called the decide tool on her own request: %v", err)
	}
	if v.total() != 0 {
		t.Errorf("%d vendor writes", v.total())
	}
}

func decideReq(id string) mcp.CallToolRequest {
	req := mcp.CallToolRequest{}
	req.Params.Name = "incidents_view_decide"
	req.Params.Arguments = map[string]any{"approval_id": id, "decision": "approve"}
	return req
}

// fieldFrom is the value a pending result's change of field starts from.
func fieldFrom(t *testing.T, sc map[string]any, field string) string {
	t.Helper()
	changes, _ := sc["changes"].([]any)
	for _, c := range changes {
		m, _ := c.(map[string]any)
		if m["field"] == field {
			s, _ := m["from"].(string)
			return s
		}
	}
	t.Fatalf("no change of %s in %v", field, sc)
	return ""
}
