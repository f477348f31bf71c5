//go:build chaos

// Package chaos drives the server through a fault-injecting proxy in front
// of every vendor simulator — one request in five gets a 500, 502, 503, a
// 429 with Retry-After, a reset before or after forwarding, a cut JSON body
// or a 2 s delay — and checks the promise that holds whatever the vendor
// does: every read answers or fails with an actionable error within its
// budget plus 2 s, and every confirmed write reaches the vendor at most
// once and is never reported applied when it was not (nor failed when it
// was). Writes are counted at the simulators.
//
// It runs in-process (the tools over an in-process MCP client, all three
// vendors) and black-box (the built binary over streamable HTTP, ESET and
// Kaspersky). `make chaos` runs it; it takes a minute or two.
package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/faultproxy"
	"github.com/incident-mcp/incident-mcp/internal/testbin"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

const (
	faultShare = 0.2
	// slack is what a call may take past its budget.
	slack = 2 * time.Second
	// dlpRate lifts DLP's 60 requests per minute for the in-process run, on
	// both sides: the rate schedule has its own tests.
	dlpRate = 6000
)

var simNow = time.Now().UTC().Truncate(time.Second)

// rig is the three simulators, each behind its own fault proxy.
type rig struct {
	eset    *esetsim.Server
	kas     *kasperskysim.Server
	dlp     *dlpsim.Server
	url     map[string]string // instance → proxy URL
	proxies map[string]*faultproxy.Proxy
}

func startRig(t *testing.T, seed int64) *rig {
	r := &rig{
		eset:    esetsim.New(esetsim.Config{Seed: seed, Incidents: 300, Now: simNow}),
		kas:     kasperskysim.New(kasperskysim.Config{Seed: seed, Incidents: 300, Now: simNow}),
		dlp:     dlpsim.New(dlpsim.Config{Seed: seed, Incidents: 300, Now: simNow, RateLimit: dlpRate}),
		url:     map[string]string{},
		proxies: map[string]*faultproxy.Proxy{},
	}
	for name, h := range map[string]http.Handler{"eset": r.eset, "kaspersky": r.kas, "dlp": r.dlp} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		p, err := faultproxy.New(faultproxy.Config{Target: srv.URL, Seed: uint64(seed) + uint64(len(name)), Ratio: faultproxy.Uniform(faultShare)})
		if err != nil {
			t.Fatal(err)
		}
		u, stop, err := faultproxy.Serve(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		r.url[name], r.proxies[name] = u, p
	}
	return r
}

// tally counts outcomes across concurrent calls.
type tally struct {
	mu                              sync.Mutex
	readsOK, readsFailed, readsHung int
	unclear                         []string
	longest                         time.Duration
	longestCall                     string
	writes                          []*write
	previewsFailed                  int
}

func (ta *tally) read(name string, took, limit time.Duration, res *mcp.CallToolResult, sc map[string]any, err error) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if took > ta.longest {
		ta.longest, ta.longestCall = took, name
	}
	switch {
	case err != nil || took > limit:
		ta.readsHung++
		ta.unclear = append(ta.unclear, fmt.Sprintf("%s: took %v (limit %v), err %v", name, took.Round(time.Millisecond), limit, err))
	case !res.IsError:
		ta.readsOK++
	case actionable(sc):
		ta.readsFailed++
	default:
		ta.unclear = append(ta.unclear, fmt.Sprintf("%s: unclear error %s", name, text(res)))
	}
}

// actionable is an error a model can act on: a code that says the vendor
// failed for now, and the next step.
func actionable(sc map[string]any) bool {
	e, _ := sc["error"].(map[string]any)
	code, _ := e["code"].(string)
	next, _ := e["next"].(string)
	msg, _ := e["message"].(string)
	switch code {
	case "unavailable", "deadline_exceeded", "rate_limited":
		return next != "" && msg != ""
	}
	return false
}

// write is one confirmed change, with a marker the simulator can count.
type write struct {
	id, marker string
	said       string // "applied", "unknown", "failed"
	detail     string
	atVendor   int
}

type caller func(ctx context.Context, tool string, args map[string]any) (*mcp.CallToolResult, map[string]any, error)

func clientCaller(c *client.Client) caller {
	return func(ctx context.Context, tool string, args map[string]any) (*mcp.CallToolResult, map[string]any, error) {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		var sc map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &sc)
		return res, sc, nil
	}
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// timed calls with a deadline past the limit, so a hang shows as one.
func timed(call caller, tool string, args map[string]any, limit time.Duration) (*mcp.CallToolResult, map[string]any, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	start := time.Now()
	res, sc, err := call(ctx, tool, args)
	return res, sc, time.Since(start), err
}

// reads makes n list calls per instance from workers goroutines, following
// a cursor now and then.
func reads(ta *tally, call caller, instances []string, n, workers int, limit time.Duration) {
	variants := []map[string]any{
		{"page_size": 20},
		{"status": []string{"open"}, "page_size": 10},
		{"min_severity": "high", "created_after": "30d", "page_size": 5},
		{"title_contains": "a", "order_by": "created_at asc"},
		{"where": `incident.severity >= MEDIUM`, "page_size": 50},
	}
	jobs := make(chan map[string]any)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for args := range jobs {
				res, sc, took, err := timed(call, tools.ListIncidents, args, limit)
				ta.read(fmt.Sprint(args), took, limit, res, sc, err)
				if err == nil && !res.IsError {
					if cur, _ := sc["next_cursor"].(string); cur != "" && took%3 == 0 {
						next := map[string]any{"cursor": cur}
						for k, v := range args {
							next[k] = v
						}
						res, sc, took, err := timed(call, tools.ListIncidents, next, limit)
						ta.read("cursor of "+fmt.Sprint(args), took, limit, res, sc, err)
					}
				}
			}
		})
	}
	for i := range n {
		for _, in := range instances {
			args := map[string]any{"instance": in}
			for k, v := range variants[i%len(variants)] {
				args[k] = v
			}
			jobs <- args
		}
	}
	close(jobs)
	wg.Wait()
}

// openIDs lists open incidents of an instance, retrying through faults.
func openIDs(t *testing.T, ta *tally, call caller, instance string, limit time.Duration) []string {
	for range 20 {
		args := map[string]any{"instance": instance, "status": []string{"open"}, "page_size": 100}
		res, sc, took, err := timed(call, tools.ListIncidents, args, limit)
		ta.read("open "+instance, took, limit, res, sc, err)
		if err != nil || res.IsError {
			continue
		}
		var ids []string
		for _, inc := range sc["incidents"].([]any) {
			ids = append(ids, inc.(map[string]any)["id"].(string))
		}
		return ids
	}
	t.Fatalf("could not list open %s incidents through the faults", instance)
	return nil
}

// change is the confirmed write made to an incident, marked with m.
func change(instance, id, m string) map[string]any {
	switch instance {
	case "eset":
		return map[string]any{"id": id, "comment": m}
	case "kaspersky":
		return map[string]any{"id": id, "status": "closed", "resolution": "false_positive"}
	}
	return map[string]any{"id": id, "assignee": m + "@example.com"}
}

// writes previews and confirms n changes per instance with the token flow,
// each on its own incident.
func writes(t *testing.T, ta *tally, call caller, targets map[string][]string, n int, tag string, limit time.Duration) {
	var wg sync.WaitGroup
	for instance, ids := range targets {
		wg.Go(func() {
			for i, id := range ids[:min(n, len(ids))] {
				w := &write{id: id, marker: fmt.Sprintf("chaos-%s-%s-%d", tag, instance, i)}
				args := change(instance, id, w.marker)
				token := ""
				for range 10 { // the preview is a read: retry it through faults
					res, sc, took, err := timed(call, tools.UpdateIncident, args, limit)
					ta.read("preview "+id, took, limit, res, sc, err)
					if err == nil && !res.IsError {
						token, _ = sc["confirmation_token"].(string)
						break
					}
				}
				if token == "" {
					ta.mu.Lock()
					ta.previewsFailed++
					ta.mu.Unlock()
					continue
				}
				args["confirmation_token"] = token
				res, sc, took, err := timed(call, tools.UpdateIncident, args, limit)
				switch {
				case err != nil || took > limit:
					w.said, w.detail = "hung", fmt.Sprintf("took %v: %v", took, err)
				case !res.IsError && sc["applied"] == true:
					w.said = "applied"
				case strings.Contains(text(res), "may have applied") || strings.Contains(strings.ToLower(text(res)), "unknown"):
					w.said, w.detail = "unknown", text(res)
				default:
					w.said, w.detail = "failed", text(res)
				}
				ta.mu.Lock()
				ta.writes = append(ta.writes, w)
				ta.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// count looks each write up at its simulator.
func (r *rig) count(ws []*write) {
	closes := r.kas.Closes()
	applied := r.dlp.AppliedWrites()
	for _, w := range ws {
		instance, native, _ := strings.Cut(w.id, ":")
		switch instance {
		case "eset":
			for _, c := range r.eset.Comments(native) {
				if c == w.marker {
					w.atVendor++
				}
			}
		case "kaspersky":
			w.atVendor = closes[native]
		case "dlp":
			for _, a := range applied {
				if a.ID == native && strings.Contains(a.Body, w.marker) {
					w.atVendor++
				}
			}
		}
	}
}

// report prints the figures and fails on any broken promise.
func report(t *testing.T, name string, ta *tally, r *rig, auditPath string) {
	r.count(ta.writes)
	said := map[string]int{}
	var appliedN, doubled, lost, failedButApplied, hung int
	for _, w := range ta.writes {
		said[w.said]++
		if w.atVendor > 0 {
			appliedN++
		}
		switch {
		case w.atVendor > 1:
			doubled++
			t.Errorf("%s written %d times (said %s)", w.id, w.atVendor, w.said)
		case w.said == "applied" && w.atVendor == 0:
			lost++
			t.Errorf("%s reported applied, not at the vendor", w.id)
		case w.said == "failed" && w.atVendor > 0:
			failedButApplied++
			t.Errorf("%s reported failed, but the vendor has it: %s", w.id, w.detail)
		case w.said == "hung":
			hung++
			t.Errorf("%s: the confirmed write hung: %s", w.id, w.detail)
		}
	}
	injected := 0
	for _, p := range r.proxies {
		for _, n := range p.Stats().Injected {
			injected += n
		}
	}
	reqs := 0
	for _, p := range r.proxies {
		reqs += p.Stats().Requests
	}
	t.Logf("%s: vendor requests %d, faults injected %d (%.0f%%)", name, reqs, injected, 100*float64(injected)/float64(max(reqs, 1)))
	t.Logf("%s: reads ok %d / failed clearly %d / hung %d / unclear %d; longest call %v (%s)",
		name, ta.readsOK, ta.readsFailed, ta.readsHung, len(ta.unclear)-ta.readsHung, ta.longest.Round(time.Millisecond), ta.longestCall)
	t.Logf("%s: writes attempted %d (previews that never succeeded %d): said applied %d, unknown %d, failed %d; at the vendors: applied %d, doubled %d, lost %d, failed-but-applied %d",
		name, len(ta.writes), ta.previewsFailed, said["applied"], said["unknown"], said["failed"], appliedN, doubled, lost, failedButApplied)
	for _, u := range ta.unclear {
		t.Errorf("read: %s", u)
	}
	// Every write that reached a vendor has its intent, written before the
	// vendor was called, and an outcome; none is left pending.
	recs, torn, err := audit.Read(auditPath)
	if err != nil || torn != 0 {
		t.Fatalf("audit log: %v, %d torn lines", err, torn)
	}
	intents, outcomes := map[string]int{}, map[string]string{}
	for _, rec := range recs {
		if rec.Outcome == audit.Intent {
			intents[rec.ID]++
		} else {
			outcomes[rec.ID] = rec.Outcome
		}
	}
	missing := 0
	for _, w := range ta.writes {
		if w.atVendor > 0 && intents[w.id] == 0 {
			missing++
			t.Errorf("%s reached the vendor without an audit intent", w.id)
		}
		if w.atVendor > 0 && outcomes[w.id] != audit.Applied && outcomes[w.id] != audit.Unknown {
			t.Errorf("%s reached the vendor; audited %q", w.id, outcomes[w.id])
		}
	}
	pending := audit.Pending(recs)
	for _, p := range pending {
		t.Errorf("intent without an outcome: %s", p.ID)
	}
	t.Logf("%s: audit records %d; vendor writes without an intent %d; intents without an outcome %d", name, len(recs), missing, len(pending))
}

// TestChaosInProcess drives the tools in-process against all three vendors.
func TestChaosInProcess(t *testing.T) {
	r := startRig(t, 41)
	log := slog.New(slog.DiscardHandler)
	ed, err := eset.New(eset.Config{APIURL: r.url["eset"], TokenURL: r.url["eset"] + "/oauth/token", Username: "demo", Password: "demo", Common: descriptor.Common{Logger: log}})
	if err != nil {
		t.Fatal(err)
	}
	kd, err := kaspersky.New(kaspersky.Config{BaseURL: r.url["kaspersky"], Token: kasperskysim.DefaultToken, Common: descriptor.Common{Logger: log}})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := dlp.New(dlp.Config{BaseURL: r.url["dlp"], APIKey: dlpsim.DefaultAPIKey, RateLimit: dlpRate, Common: descriptor.Common{Logger: log}})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("c", 32)))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	auditLog, err := audit.Open(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer auditLog.Close()
	budget := incidents.Budget{Requests: 20, Time: 5 * time.Second}
	svc, err := incidents.New([]*incidents.Instance{{Name: "eset", Driver: ed}, {Name: "kaspersky", Driver: kd}, {Name: "dlp", Driver: dd}},
		sealer, log, incidents.WithBudget(budget), incidents.WithAudit(auditLog))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(tools.NewServer(svc, "chaos", log, tools.Options{Update: tools.UpdateOptions{
		// The writes here are confirmed with tokens, a path the server offers only when named.
		Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathToken}}},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c)
	call := clientCaller(c)
	limit := budget.Time + slack

	ta := &tally{}
	targets := map[string][]string{}
	for _, in := range []string{"eset", "kaspersky", "dlp"} {
		targets[in] = openIDs(t, ta, call, in, limit)
	}
	var wg sync.WaitGroup
	wg.Go(func() { reads(ta, call, []string{"eset", "kaspersky", "dlp"}, 140, 6, limit) })
	wg.Go(func() { writes(t, ta, call, targets, 15, "inproc", limit) })
	wg.Wait()
	report(t, "in-process", ta, r, auditPath)
}

// TestMain removes the built binary when the package's tests end.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// TestChaosBinary drives the built binary over streamable HTTP.
func TestChaosBinary(t *testing.T) {
	r := startRig(t, 43)
	bin := testbin.Command(t, "incident-mcp")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := exec.Command(bin, "--http", addr, "--audit-log", auditPath, "--log-level", "error", "--confirm-paths", "token")
	cmd.Env = append(os.Environ(),
		"INCIDENT_MCP_SECRET="+strings.Repeat("s", 32),
		"ESET_API_URL="+r.url["eset"], "ESET_TOKEN_URL="+r.url["eset"]+"/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo",
		"KASPERSKY_URL="+r.url["kaspersky"], "KASPERSKY_TOKEN="+kasperskysim.DefaultToken,
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	up := false
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			up = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !up {
		t.Fatal("the server did not come up")
	}
	tr, err := transport.NewStreamableHTTP("http://" + addr + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	call := clientCaller(c)
	limit := incidents.DefaultBudget.Time + slack

	ta := &tally{}
	targets := map[string][]string{}
	for _, in := range []string{"eset", "kaspersky"} {
		targets[in] = openIDs(t, ta, call, in, limit)
	}
	var wg sync.WaitGroup
	wg.Go(func() { reads(ta, call, []string{"eset", "kaspersky"}, 60, 4, limit) })
	wg.Go(func() { writes(t, ta, call, targets, 8, "bin", limit) })
	wg.Wait()
	report(t, "binary over HTTP", ta, r, auditPath)
}

func initialize(t *testing.T, c *client.Client) {
	t.Helper()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "chaos", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
}
