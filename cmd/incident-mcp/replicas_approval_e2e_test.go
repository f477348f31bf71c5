package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// TestApprovalAcrossReplicas: two replicas on one Redis and one vendor. An
// approval requested on A is approved on B's page and collected on A: one
// vendor write. Collecting it again on A and on B writes nothing more.
func TestApprovalAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	v := startVendor(t, 30)
	env := append(v.env(), "INCIDENT_MCP_REDIS_URL="+rd.URL(), "INCIDENT_MCP_REPLICAS=2")
	approvers := approversFile(t)
	a := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	b := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	ca, cb := a.connect(t, "2025-11-25", nil), b.connect(t, "2025-11-25", nil)

	id := firstOpen(t, ca, 0)["id"].(string)
	args := map[string]any{"id": id, "title": "approved on another replica"}
	res, sc := callTool(t, ca, "update_incident", args)
	approvalID, pageURL := approvalOf(t, res, sc)
	if !strings.HasPrefix(pageURL, a.url) {
		t.Fatalf("page URL %s is not A's", pageURL)
	}
	onB := b.url + strings.TrimPrefix(pageURL, a.url)
	if err := approvaltest.Approve(onB, approval.DemoApprover, approval.DemoPassword); err != nil {
		t.Fatalf("approve on B's page: %v", err)
	}
	args["approval_id"] = approvalID
	res, _ = callTool(t, ca, "update_incident", args)
	if !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("collect on A: %s", resultText(res))
	}
	for name, c := range map[string]*client.Client{"A": ca, "B": cb} {
		if res, _ := callTool(t, c, "update_incident", args); strings.Contains(resultText(res), "APPLIED") {
			t.Errorf("replay on %s applied again: %s", name, resultText(res))
		}
	}
	writes := v.writesTo()
	recsA, recsB := records(t, a.audit), records(t, b.audit)
	applied := 0
	for _, r := range append(recsA, recsB...) {
		if r.Outcome == "applied" {
			applied++
		}
	}
	t.Logf("approval requested on A, approved on B's page, collected on A, replayed on A and B: %d vendor write(s), %d applied in the audit", writes[strings.TrimPrefix(id, "eset:")], applied)
	if v.total() != 1 || applied != 1 {
		t.Errorf("vendor writes %v, applied audit records %d; want exactly one each", writes, applied)
	}
}

// TestReplicasWithoutRedisRefused: replicas that cannot share approvals
// refuse to start while the approval page is on, and start without it.
func TestReplicasWithoutRedisRefused(t *testing.T) {
	cmd := exec.Command(testbin.Command(t, "incident-mcp"), "--demo", "--http", freeAddr(t), "--confirm-paths", "approval")
	cmd.Env = append(os.Environ(), "INCIDENT_MCP_REPLICAS=2", "INCIDENT_MCP_REDIS_URL=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "INCIDENT_MCP_REPLICAS=2 without Redis") {
		t.Errorf("started without Redis: %v\n%s", err, out)
	}
	// With the approval page off there is nothing to share: it starts.
	startHTTPEnv(t, "", []string{"INCIDENT_MCP_REPLICAS=2"}, "--demo", "--confirm-paths", "token")
}

// TestApproverSessionAcrossReplicas: behind a load balancer without sticky
// routing an approver's requests land on any replica. Signed in on A's page,
// the approver's form (its CSRF token bound to the session) is posted to
// B: B knows the session from Redis and records the decision.
func TestApproverSessionAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	v := startVendor(t, 30)
	env := append(v.env(), "INCIDENT_MCP_REDIS_URL="+rd.URL(), "INCIDENT_MCP_REPLICAS=2")
	approvers := approversFile(t)
	a := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	b := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	ca := a.connect(t, "2025-11-25", nil)

	id := firstOpen(t, ca, 0)["id"].(string)
	args := map[string]any{"id": id, "title": "signed in on A, approved on B"}
	res, sc := callTool(t, ca, "update_incident", args)
	approvalID, pageURL := approvalOf(t, res, sc)
	onB := b.url + strings.TrimPrefix(pageURL, a.url)

	who, _, err := approvaltest.SignIn(pageURL, approval.DemoApprover, approval.DemoPassword)
	if err != nil {
		t.Fatalf("sign in on A: %v", err)
	}
	token, err := who.Token(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := who.Post(onB, token, true)
	if err != nil || code != 200 || !strings.Contains(body, "Approved") {
		t.Fatalf("A's form posted to B: %d %v\n%s", code, err, body)
	}
	args["approval_id"] = approvalID
	if res, _ := callTool(t, ca, "update_incident", args); !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("collect on A: %s", resultText(res))
	}
	// Signed out on B: signed out on A too.
	if err := who.SignOut(onB); err != nil {
		t.Fatalf("sign out on B: %v", err)
	}
	if in, err := who.SignedIn(pageURL); err != nil || in {
		t.Errorf("still signed in on A after signing out on B (%v)", err)
	}
	t.Logf("approver signed in on A, decision posted to B: applied once (%d vendor write)", v.total())
}

// TestSignInBackoffAcrossReplicas: wrong passwords for one approver spread
// over two replicas count together, so the attacker gets the free tries
// once, not once per replica: after three failures (A, B, A) even the
// right password is refused on B for a while.
func TestSignInBackoffAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	v := startVendor(t, 30)
	env := append(v.env(), "INCIDENT_MCP_REDIS_URL="+rd.URL(), "INCIDENT_MCP_REPLICAS=2")
	approvers := approversFile(t)
	a := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	b := startServer(t, true, env, "--confirm-paths", "approval", "--approvers", approvers)
	ca := a.connect(t, "2025-11-25", nil)
	id := firstOpen(t, ca, 0)["id"].(string)
	res, sc := callTool(t, ca, "update_incident", map[string]any{"id": id, "title": "guessed at"})
	_, pageURL := approvalOf(t, res, sc)
	onB := b.url + strings.TrimPrefix(pageURL, a.url)

	for i, page := range []string{pageURL, onB, pageURL} {
		if _, _, err := approvaltest.SignIn(page, approval.DemoApprover, "wrong-"+string(rune('a'+i))); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	_, _, err := approvaltest.SignIn(onB, approval.DemoApprover, approval.DemoPassword)
	if err == nil || !strings.Contains(err.Error(), "status 429") {
		t.Errorf("the right password on B after 3 failures spread over A and B: %v; want 429 (backing off)", err)
	}
	t.Logf("3 wrong passwords over 2 replicas, then the right one on B: %v", err)
}
