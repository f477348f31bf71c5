package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
)

// killRuns is how many times the server is killed mid-write.
const killRuns = 24

// TestKillDuringWrites kills the built binary with SIGKILL at random points
// while a client confirms writes, again and again on one audit log, with
// the vendor simulator outside the killed process. Whatever the moment:
// every write the vendor received has an intent line in the audit log
// (written and fsynced before the vendor call), every write a client was
// told was applied reached the vendor, and the log always parses.
func TestKillDuringWrites(t *testing.T) {
	bin := testbin.Command(t, "incident-mcp")
	v := startVendor(t, 200)
	var ids []string
	for _, inc := range v.sim.Incidents() {
		ids = append(ids, "eset:"+inc.UUID)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 8))
	t.Logf("seed %d", seed)

	var next atomic.Int64
	var mu sync.Mutex
	toldApplied := map[string]int{} // incident id → answers "APPLIED"
	torn := 0
	for run := range killRuns {
		cmd, url := startAt(t, bin, auditPath, v.env())
		c := connectHTTP(t, url)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[int(next.Add(1))%len(ids)]
				args := map[string]any{"id": id, "title": fmt.Sprintf("kill run %d write %d", run, j)}
				pv, err := call(t, c, args)
				if err != nil {
					return
				}
				token, _ := pv.StructuredContent.(map[string]any)["confirmation_token"].(string)
				if token == "" {
					continue // a refusal (say, a crash left a newer title); try the next one
				}
				args["confirmation_token"] = token
				res, err := call(t, c, args)
				if err != nil {
					return // killed: the answer is lost, and the audit log must tell
				}
				if !res.IsError {
					mu.Lock()
					toldApplied[id]++
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL: no deferred close, no flush
		cmd.Wait()
		close(stop)
		<-done
		c.Close()

		_, tornNow, err := audit.Read(auditPath)
		if err != nil {
			t.Fatalf("run %d: the audit log does not parse after kill -9: %v", run, err)
		}
		torn += tornNow
	}

	recs, _, err := audit.Read(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	intents, applied := map[string]int{}, map[string]int{}
	for _, r := range recs {
		_, native, _ := strings.Cut(r.ID, ":")
		switch r.Outcome {
		case audit.Intent:
			intents[native]++
		case audit.Applied:
			applied[native]++
		}
	}
	vendorWrites := v.writesTo()
	withoutIntent, lost, total := 0, 0, 0
	for native, n := range vendorWrites {
		total += n
		if n > intents[native] {
			withoutIntent += n - intents[native]
			t.Errorf("incident %s: the vendor received %d writes, the audit log has %d intents", native, n, intents[native])
		}
		if applied[native] > n {
			t.Errorf("incident %s: %d applied outcomes, but the vendor received %d writes", native, applied[native], n)
		}
	}
	told := 0
	for id, n := range toldApplied {
		told += n
		_, native, _ := strings.Cut(id, ":")
		if vendorWrites[native] < n {
			lost += n - vendorWrites[native]
			t.Errorf("%s: the client was told %d writes were applied, the vendor received %d", id, n, vendorWrites[native])
		}
	}
	nIntents, nApplied := 0, 0
	for _, n := range intents {
		nIntents += n
	}
	for _, n := range applied {
		nApplied += n
	}
	pending := audit.Pending(recs)
	t.Logf("%d kills: %d intents (writes attempted), %d applied outcomes, %d intents left pending by a kill, %d vendor writes, %d without an intent, %d told applied, %d lost, torn lines seen after kills: %d",
		killRuns, nIntents, nApplied, len(pending), total, withoutIntent, told, lost, torn)
	if nIntents == 0 || total == 0 {
		t.Fatal("no write happened: the kills came too early to test anything")
	}
	// Each pending intent is a write the kill interrupted: the vendor may
	// or may not have received it, which is exactly what Pending reports.
	if len(pending) > nIntents-nApplied {
		t.Errorf("pending %d > intents %d - outcomes", len(pending), nIntents)
	}

	// Every start reconciled the intents the kill before it left; the last
	// kill's are reconciled by the subcommand. Then every intent has an
	// outcome that agrees with what the simulator applied.
	out, err := reconcileCommand(bin, auditPath, v.env()).Output()
	if err != nil {
		t.Fatalf("audit reconcile: %v\n%s", err, out)
	}
	if recs, _, err = audit.Read(auditPath); err != nil {
		t.Fatal(err)
	}
	outcome := map[string]audit.Record{}
	for _, r := range audit.Outcomes(recs) {
		outcome[r.Write] = r
	}
	reconciled, unexplained, wrong := 0, 0, 0
	for _, r := range recs {
		if r.Outcome != audit.Intent {
			continue
		}
		var p struct{ Title string }
		json.Unmarshal(r.Patch, &p)
		o, ok := outcome[r.Write]
		if o.Reconciled {
			reconciled++
		}
		switch {
		case !ok || o.Outcome == audit.Unknown:
			unexplained++
			t.Errorf("write %s to %s: outcome %q (%s), after reconciliation", r.Write, r.ID, o.Outcome, o.Reason)
		case (o.Outcome == audit.Applied) != v.applied(p.Title):
			wrong++
			t.Errorf("write %s to %s (title %q): outcome %s (%s), yet the simulator applied it: %v", r.Write, r.ID, p.Title, o.Outcome, o.Reason, v.applied(p.Title))
		}
	}
	t.Logf("after reconciliation: %d intents, %d reconciled at a restart or by audit reconcile, %d unexplained, %d wrongly classified against the simulator; the command said: %s",
		nIntents, reconciled, unexplained, wrong, lastLine(out))
	if reconciled == 0 {
		t.Error("no intent was reconciled: the kills never interrupted a write, so reconciliation went untested")
	}
}

// reconcileCommand runs `incident-mcp audit reconcile FILE` against the
// vendor.
func reconcileCommand(bin, auditPath string, env []string) *exec.Cmd {
	cmd := exec.Command(bin, "audit", "reconcile", "--log-level", "error", auditPath)
	cmd.Env = append(append(os.Environ(), "INCIDENT_MCP_SECRET="+strings.Repeat("k", 32)), env...)
	cmd.Stderr = io.Discard
	return cmd
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// startAt runs the binary over HTTP on a free port with the given audit log,
// and waits until it serves.
func startAt(t *testing.T, bin, auditPath string, env []string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--http", addr, "--audit-log", auditPath, "--log-level", "error", "--confirm-paths", tokenPaths)
	cmd.Env = append(append(os.Environ(), "INCIDENT_MCP_SECRET="+strings.Repeat("k", 32)), env...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	for range 200 {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd, url
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("server did not come up")
	return nil, ""
}

func connectHTTP(t *testing.T, url string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url+"/mcp", transport.WithHTTPTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "killer", Version: "1"}
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

func call(t *testing.T, c *client.Client, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "update_incident", args
	return c.CallTool(t.Context(), req)
}
