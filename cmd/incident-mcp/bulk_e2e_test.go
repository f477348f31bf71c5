package main_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
)

// dlpVendor is a DLP simulator served by the test process that counts the
// write requests (PATCH) per incident.
type dlpVendor struct {
	url string
	mu  sync.Mutex
	per map[string]int
}

func startDLP(t *testing.T) *dlpVendor {
	t.Helper()
	v := &dlpVendor{per: map[string]int{}}
	sim := dlpsim.New(dlpsim.Config{Seed: 3, Incidents: 200, RateLimit: 1_000_000, MaxConcurrent: 1000})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			v.mu.Lock()
			v.per[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			v.mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	v.url = srv.URL
	return v
}

// writes returns the total write requests and the most any incident got.
func (v *dlpVendor) writes() (total, most int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range v.per {
		total += n
		most = max(most, n)
	}
	return total, most
}

// TestBulkCloseThroughOneApproval: the built binary over HTTP closes 30
// DLP incidents as false positives through one approval on the approval
// page: 30 audit intent/outcome pairs, one write per incident at the
// vendor, and replays of the same approval write nothing more; another
// analyst cannot collect it.
func TestBulkCloseThroughOneApproval(t *testing.T) {
	v := startDLP(t)
	tokens, approvers := identityFiles(t)
	conf := filepath.Join(t.TempDir(), "incident-mcp.yaml")
	body := "instances:\n  - name: dlp\n    vendor: dlp\n    url: " + v.url + "\n    api_key: \"" + dlpsim.DefaultAPIKey + "\"\n    rate_limit: {requests: 1000000, per: 1m, concurrent: 1000}\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, true, nil, "--config", conf, "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval")
	alice := srv.connectAs(t, aliceToken, nil)
	bob := srv.connectAs(t, bobToken, nil)

	_, sc := callTool(t, alice, "list_incidents", map[string]any{"instance": "dlp", "status": []string{"open"}, "page_size": 30})
	incs, _ := sc["incidents"].([]any)
	if len(incs) != 30 {
		t.Fatalf("want 30 open DLP incidents, got %d", len(incs))
	}
	ids := make([]any, len(incs))
	for i, inc := range incs {
		ids[i] = inc.(map[string]any)["id"]
	}
	args := map[string]any{"ids": ids, "status": "closed", "resolution": "false_positive"}
	res, sc := callTool(t, alice, "update_incident", args)
	reqID, url := approvalOf(t, res, sc)
	if preview, _ := sc["preview"].([]any); len(preview) != 30 {
		t.Fatalf("the preview lists %d incidents: %s", len(preview), resultText(res))
	}
	if n := strings.Count(resultText(res), "\n- dlp:"); n != 30 {
		t.Errorf("the preview text has %d incident lines, want 30", n)
	}
	if total, _ := v.writes(); total != 0 {
		t.Fatalf("the preview wrote %d times", total)
	}
	if err := approvaltest.Approve(url, "carol", approval.DemoPassword); err != nil {
		t.Fatal(err)
	}
	args["approval_id"] = reqID

	// Bob cannot collect alice's approval.
	res, _ = callTool(t, bob, "update_incident", args)
	if !res.IsError || !strings.Contains(resultText(res), "there is no approval request") {
		t.Errorf("bob collecting alice's approval: %s", resultText(res))
	}
	if total, _ := v.writes(); total != 0 {
		t.Fatalf("bob's attempt wrote %d times", total)
	}

	res, sc = callTool(t, alice, "update_incident", args)
	counts, _ := sc["counts"].(map[string]any)
	if res.IsError || counts["applied"] != float64(30) {
		t.Fatalf("outcome: %s", resultText(res))
	}
	lines := 0
	for _, l := range strings.Split(resultText(res), "\n") {
		if strings.HasPrefix(l, "- dlp:") && strings.HasSuffix(l, " applied") {
			lines++
		}
	}
	if lines != 30 {
		t.Errorf("the outcome text has %d lines \"- <id> applied\", want 30: %s", lines, resultText(res))
	}
	applied, _ := v.writes()

	// Replays of the same approval.
	for range 2 {
		res, sc = callTool(t, alice, "update_incident", args)
		counts, _ = sc["counts"].(map[string]any)
		if counts["already_done"] != float64(30) {
			t.Errorf("replay: %s", resultText(res))
		}
	}
	total, most := v.writes()
	doubles := total - applied

	recs, _, err := audit.Read(srv.audit)
	if err != nil {
		t.Fatal(err)
	}
	intents, outcomes := map[string]int{}, map[string]int{}
	for _, r := range recs {
		switch r.Outcome {
		case audit.Intent:
			intents[r.ID]++
		case audit.Applied:
			outcomes[r.ID]++
			if r.RequestedBy != "token:alice" || strings.Join(r.ApprovedBy, ",") != "carol" {
				t.Errorf("audit of %s: requested by %s, approved by %v", r.ID, r.RequestedBy, r.ApprovedBy)
			}
		}
	}
	pairs := 0
	for _, id := range ids {
		if intents[id.(string)] == 1 && outcomes[id.(string)] == 1 {
			pairs++
		}
	}
	if pairs != 30 || len(intents) != 30 || len(outcomes) != 30 {
		t.Errorf("audit: %d complete pairs over %d intents and %d outcomes; want 30", pairs, len(intents), len(outcomes))
	}
	if applied != 30 || doubles != 0 || most != 1 {
		t.Errorf("vendor writes: %d for the approval, %d more under replay, at most %d per incident", applied, doubles, most)
	}
	t.Logf("bulk close of 30 DLP incidents, one approval: audit pairs %d, vendor writes %d, doubles under 2 replays %d", pairs, applied, doubles)
}
