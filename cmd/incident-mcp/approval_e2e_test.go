package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/crypto/bcrypt"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/internal/browsertest"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// approversFile writes an approvers file naming the demo approvers with
// the demo password, bcrypt-hashed as an operator would.
func approversFile(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(approval.DemoPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "approvers")
	body := approval.DemoApprover + ":" + string(h) + "\n" + approval.DemoSecondApprover + ":" + string(h) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// approvalOf reads the approval of an "approval pending" result.
func approvalOf(t *testing.T, res *mcp.CallToolResult, sc map[string]any) (id, url string) {
	t.Helper()
	a, _ := sc["approval"].(map[string]any)
	if res.IsError || a == nil || !strings.Contains(resultText(res), "approval pending: ask the user to open") {
		t.Fatalf("want approval pending, got %s", resultText(res))
	}
	return a["id"].(string), a["url"].(string)
}

// TestApprovalPageInBrowser: the built binary over HTTP, the token path
// off, a client without elicitation. A person signs in to the page in
// headless Chromium, reads the diff and approves: the incident changes once
// at the vendor and the audit names the approver. A second browser
// afterwards changes nothing; a rejection writes nothing.
func TestApprovalPageInBrowser(t *testing.T) {
	v := startVendor(t, 30)
	srv := startServer(t, true, v.env(), "--confirm-paths", "elicitation,approval", "--approvers", approversFile(t))
	c := srv.connect(t, "2026-07-28", nil)
	target := firstOpen(t, c, 0)
	id := target["id"].(string)
	args := map[string]any{"id": id, "status": "closed", "resolution": "false_positive", "comment": "approved in a browser"}

	res, sc := callTool(t, c, "update_incident", args)
	reqID, url := approvalOf(t, res, sc)
	if !strings.HasPrefix(url, srv.url+"/approve/") {
		t.Errorf("page URL %s is not on the server's listener %s", url, srv.url)
	}
	args["approval_id"] = reqID
	if res, _ := callTool(t, c, "update_incident", args); !strings.Contains(resultText(res), "STILL PENDING") || v.total() != 0 {
		t.Fatalf("before approval: %s; %d vendor writes", resultText(res), v.total())
	}

	ann := browsertest.New(t)
	ann.Open(url)
	ann.SignIn(approval.DemoApprover, approval.DemoPassword)
	page := ann.Text()
	for _, want := range []string{"Approve a change to " + id, "status", "closed", "false_positive", "approved in a browser", "e2e-2026-07-28", target["title"].(string)} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	ann.Screenshot(browsertest.ArtifactDir(t), "approval-e2e")
	ann.Press("Approve")
	if !strings.Contains(ann.Text(), "Approved (1 of 1)") {
		t.Fatalf("after Approve: %s", ann.Text())
	}

	res, _ = callTool(t, c, "update_incident", args)
	if !strings.Contains(resultText(res), "APPLIED to "+id) {
		t.Fatalf("after approval: %s", resultText(res))
	}
	writes := v.total()
	if writes == 0 {
		t.Fatal("no vendor write")
	}
	if _, got := callTool(t, c, "get_incident", map[string]any{"id": id}); got["status"] != "closed" {
		t.Errorf("status %v", got["status"])
	}

	// A second browser, after the first: no decision to make, nothing more written.
	bob := browsertest.New(t)
	bob.Open(url)
	bob.SignIn(approval.DemoSecondApprover, approval.DemoPassword)
	if bob.HasButton("Approve") || !strings.Contains(bob.Text(), "approved") {
		t.Errorf("second browser: %s", bob.Text())
	}
	if res, _ := callTool(t, c, "update_incident", args); res.IsError == false || !strings.Contains(resultText(res), "nothing was written") {
		t.Errorf("applying the approval again: %s", resultText(res))
	}
	if v.total() != writes {
		t.Errorf("vendor writes went from %d to %d", writes, v.total())
	}
	applied := 0
	for _, r := range records(t, srv.audit) {
		if r.Outcome == "applied" {
			applied++
			if r.Confirm != "approval" || len(r.ApprovedBy) != 1 || r.ApprovedBy[0] != approval.DemoApprover {
				t.Errorf("audit: confirmed_by %q approved_by %v", r.Confirm, r.ApprovedBy)
			}
		}
	}
	if applied != 1 {
		t.Errorf("%d applied audit records", applied)
	}

	// Reject: nothing written.
	other := firstOpen(t, c, 0)["id"].(string)
	rargs := map[string]any{"id": other, "title": "rejected in a browser"}
	res, sc = callTool(t, c, "update_incident", rargs)
	rid, rurl := approvalOf(t, res, sc)
	ann.Open(rurl)
	ann.Press("Reject")
	rargs["approval_id"] = rid
	if res, sc := callTool(t, c, "update_incident", rargs); sc["applied"] != false || !strings.Contains(resultText(res), "rejected") {
		t.Errorf("after reject: %s", resultText(res))
	}
	if v.total() != writes {
		t.Errorf("a rejection wrote: %d → %d", writes, v.total())
	}
}

// urlApprover answers URL elicitations as a person: approves on the page
// over HTTP, then tells the client it opened it.
type urlApprover struct{ t *testing.T }

func (a urlApprover) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	if req.Params.Mode != mcp.ElicitationModeURL {
		a.t.Errorf("elicitation mode %q, want url", req.Params.Mode)
	}
	if err := approvaltest.Approve(req.Params.URL, approval.DemoApprover, approval.DemoPassword); err != nil {
		a.t.Error(err)
	}
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept}}, nil
}

// TestApprovalURLElicitationE2E: mcp-go clients that declare URL-mode
// elicitation, over both protocol generations, stdio (the page on its own
// loopback listener) and HTTP.
func TestApprovalURLElicitationE2E(t *testing.T) {
	v := startVendor(t, 30)
	for _, overHTTP := range []bool{false, true} {
		for i, pv := range []string{"2025-11-25", "2026-07-28"} {
			name := map[bool]string{false: "stdio", true: "http"}[overHTTP] + "/" + pv
			t.Run(name, func(t *testing.T) {
				srv := startServer(t, overHTTP, v.env(), "--confirm-paths", "elicitation,approval", "--approvers", approversFile(t))
				c := connectURL(t, srv, pv, urlApprover{t})
				id := firstOpen(t, c, i)["id"].(string)
				before := v.total()
				res, _ := callTool(t, c, "update_incident", map[string]any{"id": id, "title": "approved through URL elicitation " + name})
				if !strings.Contains(resultText(res), "APPLIED to "+id) {
					t.Fatalf("%s", resultText(res))
				}
				if v.total() == before {
					t.Error("no vendor write")
				}
				recs := records(t, srv.audit)
				if last := recs[len(recs)-1]; last.Confirm != "approval" || len(last.ApprovedBy) != 1 {
					t.Errorf("audit: %+v", last)
				}
			})
		}
	}
}

// connectURL is connect with URL-mode elicitation declared.
func connectURL(t *testing.T, s *server, protocol string, h client.ElicitationHandler) *client.Client {
	t.Helper()
	var tr transport.Interface
	if s.url != "" {
		var err error
		if tr, err = transport.NewStreamableHTTP(s.url + "/mcp"); err != nil {
			t.Fatal(err)
		}
	} else {
		tr = transport.NewStdio(testbin.Command(t, "incident-mcp"), s.env, s.args...)
	}
	caps := &mcp.ElicitationCapability{URL: &struct{}{}}
	c := client.NewClient(tr, client.WithElicitationHandler(h), client.WithClientCapabilities(mcp.ClientCapabilities{Elicitation: caps}))
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = protocol
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-url-" + protocol, Version: "1"}
	init.Params.Capabilities.Elicitation = caps
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
