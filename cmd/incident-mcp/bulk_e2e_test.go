package main_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/approval/approvaltest"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
)

// dlpVendor is a DLP simulator served by the test process that counts the
// write requests (PATCH) per incident.
type dlpVendor struct {
	url string
	mu  sync.Mutex
	per map[string]int
}

func startDLP(t *testing.T, latency time.Duration) *dlpVendor {
	t.Helper()
	v := &dlpVendor{per: map[string]int{}}
	sim := dlpsim.New(dlpsim.Config{Seed: 3, Incidents: 200, RateLimit: 1_000_000, MaxConcurrent: 1000, Latency: latency})
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

// config writes a configuration with one DLP instance, rate limit lifted.
func (v *dlpVendor) config(t *testing.T) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "incident-mcp.yaml")
	body := "instances:\n  - name: dlp\n    vendor: dlp\n    url: " + v.url + "\n    api_key: \"" + dlpsim.DefaultAPIKey + "\"\n    rate_limit: {requests: 1000000, per: 1m, concurrent: 1000}\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// openDLP lists n open DLP incident ids.
func openDLP(t *testing.T, c *client.Client, n int) []any {
	t.Helper()
	_, sc := callTool(t, c, "list_incidents", map[string]any{"instance": "dlp", "status": []string{"open"}, "page_size": n})
	incs, _ := sc["incidents"].([]any)
	if len(incs) != n {
		t.Fatalf("want %d open DLP incidents, got %d", n, len(incs))
	}
	ids := make([]any, n)
	for i, inc := range incs {
		ids[i] = inc.(map[string]any)["id"]
	}
	return ids
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
	v := startDLP(t, 0)
	tokens, approvers := identityFiles(t)
	srv := startServer(t, true, nil, "--config", v.config(t), "--http-tokens-file", tokens, "--approvers", approvers, "--confirm-paths", "approval")
	alice := srv.connectAs(t, aliceToken, nil)
	bob := srv.connectAs(t, bobToken, nil)
	ids := openDLP(t, alice, 30)
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

// TestBulkKillMidway: the server is killed with SIGKILL while it applies a
// bulk close of 30 DLP incidents, then restarted on the same audit log and
// secret, and the same confirmation is presented again. The nonces lived
// in memory and died with the process; the state each item was previewed
// in still guards it: every incident is written exactly once at the
// vendor, and every vendor write has its audit intent.
func TestBulkKillMidway(t *testing.T) {
	bin := testbin.Command(t, "incident-mcp")
	v := startDLP(t, 15*time.Millisecond)
	conf := v.config(t)
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	start := func() (*exec.Cmd, *client.Client) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "--config", conf, "--http", addr, "--audit-log", auditPath, "--log-level", "error", "--confirm-paths", "token")
		cmd.Env = append(os.Environ(), "INCIDENT_MCP_SECRET="+strings.Repeat("k", 32))
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for range 200 {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd, connectHTTP(t, "http://"+addr)
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatal("server did not come up")
		return nil, nil
	}
	cmd, c := start()
	ids := openDLP(t, c, 30)
	args := map[string]any{"ids": ids, "status": "closed", "resolution": "false_positive"}
	pv, err := call(t, c, args)
	if err != nil || pv.IsError {
		t.Fatalf("preview: %v %v", err, resultText(pv))
	}
	token, _ := pv.StructuredContent.(map[string]any)["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no token: %s", resultText(pv))
	}
	args["confirmation_token"] = token
	done := make(chan struct{})
	go func() {
		defer close(done)
		call(t, c, args) // killed midway: the answer is lost
	}()
	for {
		if n, _ := v.writes(); n >= 10 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	<-done
	c.Close()
	atKill, _ := v.writes()

	_, c = start()
	res, err := call(t, c, args)
	if err != nil || res.IsError {
		t.Fatalf("after restart: %v %s", err, resultText(res))
	}
	counts, _ := res.StructuredContent.(map[string]any)["counts"].(map[string]any)
	total, most := v.writes()
	recs, torn, err := audit.Read(auditPath)
	if err != nil {
		t.Fatalf("the audit log does not parse after kill -9: %v", err)
	}
	intents := map[string]int{}
	for _, r := range recs {
		if r.Outcome == audit.Intent {
			intents[r.ID]++
		}
	}
	withoutIntent := 0
	v.mu.Lock()
	for native, n := range v.per {
		if n > intents["dlp:"+native] {
			withoutIntent += n - intents["dlp:"+native]
		}
	}
	v.mu.Unlock()
	if total != 30 || most != 1 || withoutIntent != 0 {
		t.Errorf("vendor writes %d (want 30), at most %d per incident (want 1), %d without an audit intent", total, most, withoutIntent)
	}
	t.Logf("kill -9 after %d of 30 vendor writes; after restart the same confirmation: %v; vendor writes %d, doubles %d, without intent %d, intents left pending by the kill %d, torn lines %d",
		atKill, counts, total, total-30, withoutIntent, len(audit.Pending(recs)), torn)
}

// TestBulkResumesPastItsBudget: over the built binary with --bulk-budget
// 300ms and a vendor taking 40ms a request, a bulk close of 20 DLP
// incidents cannot finish in one call: each call hands back an operation,
// and calling with only that operation carries on until every incident is
// closed. Every incident is written exactly once, each write with its
// audit pair, and a finished operation replayed writes nothing.
func TestBulkResumesPastItsBudget(t *testing.T) {
	v := startDLP(t, 40*time.Millisecond)
	srv := startServer(t, true, nil, "--config", v.config(t), "--bulk-budget", "300ms")
	c := srv.connect(t, "2026-07-28", nil)
	ids := openDLP(t, c, 20)
	args := map[string]any{"ids": ids, "status": "closed", "resolution": "false_positive"}
	res, sc := callTool(t, c, "update_incident", args)
	token, _ := sc["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no confirmation token: %s", resultText(res))
	}
	args["confirmation_token"] = token
	res, sc = callTool(t, c, "update_incident", args)
	calls, applied := 1, 0
	for {
		if res.IsError {
			t.Fatalf("call %d: %s", calls, resultText(res))
		}
		counts, _ := sc["counts"].(map[string]any)
		n, _ := counts["applied"].(float64)
		applied += int(n)
		op, _ := sc["operation"].(string)
		if op == "" {
			break
		}
		if calls > 40 {
			t.Fatalf("still not finished after %d calls: %s", calls, resultText(res))
		}
		res, sc = callTool(t, c, "update_incident", map[string]any{"operation": op})
		calls++
	}
	if calls < 2 {
		t.Errorf("20 items at 40ms a request finished in one call of a 300ms budget: the budget was not applied")
	}
	total, most := v.writes()
	if applied != 20 || total != 20 || most != 1 {
		t.Errorf("applied %d over %d calls; vendor writes %d, at most %d per incident; want 20, 20, 1", applied, calls, total, most)
	}
	// The confirmation replayed after the end: nothing more.
	res, sc = callTool(t, c, "update_incident", args)
	if counts, _ := sc["counts"].(map[string]any); counts["already_done"] != float64(20) {
		t.Errorf("replay after the end: %s", resultText(res))
	}
	if total2, _ := v.writes(); total2 != 20 {
		t.Errorf("the replay wrote %d more times", total2-20)
	}
	recs, _, err := audit.Read(srv.audit)
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]int{}
	for _, r := range recs {
		if r.Outcome == audit.Intent || r.Outcome == audit.Applied {
			pairs[r.ID]++
		}
	}
	complete := 0
	for _, id := range ids {
		if pairs[id.(string)] == 2 {
			complete++
		}
	}
	if complete != 20 {
		t.Errorf("%d of 20 incidents have exactly one intent and one outcome in the audit log", complete)
	}
	t.Logf("bulk close of 20 with --bulk-budget 300ms and 40ms per vendor request: %d calls, %d applied, %d vendor writes, %d audit pairs", calls, applied, total, complete)
}
