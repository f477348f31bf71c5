package tools_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/tools"
)

// Budget sweep: the call budget, and the slack a call may take past it. A
// call's context ends budget + 1 s after it starts (the answer margin of
// incidents, for a request started just before the budget ran out); the
// further slack is for answering on a busy machine.
const (
	sweepBudget = 300 * time.Millisecond
	sweepMargin = time.Second
	sweepSlack  = time.Second
)

// hang is the latency of an upstream that never answers.
const hang = time.Duration(-1)

// slowUpstream delays every answer of a simulator by its current latency,
// or holds it until the client gives up.
type slowUpstream struct {
	latency atomic.Int64
	next    http.Handler
}

func (s *slowUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch d := time.Duration(s.latency.Load()); {
	case d == hang:
		<-r.Context().Done()
		return
	case d > 0:
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	s.next.ServeHTTP(w, r)
}

// sweepFixture is the token-path server over the simulators, each behind a
// slowUpstream, with a small call budget.
type sweepFixture struct {
	*fixture
	slow map[string]*slowUpstream
}

func newSweepFixture(t *testing.T) *sweepFixture {
	t.Helper()
	slow := map[string]*slowUpstream{}
	env, err := demotest.Start(demotest.Options{Seed: 11, Incidents: 60, Now: fixtureNow, Unlimited: true,
		Wrap: func(vendor string, h http.Handler) http.Handler {
			slow[vendor] = &slowUpstream{next: h}
			return slow[vendor]
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	auditLog, err := audit.Open(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler), incidents.WithAudit(auditLog),
		incidents.WithClock(func() time.Time { return fixtureNow }), incidents.WithBudget(incidents.Budget{Requests: 20, Time: sweepBudget}))
	if err != nil {
		t.Fatal(err)
	}
	srv := tools.NewServer(svc, "test", slog.New(slog.DiscardHandler), withToken.tools)
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = protocolVersions[0]
	init.Params.ClientInfo = mcp.Implementation{Name: "sweep", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	// As real clients do: the client mirrors x-mcp-header parameters
	// (instance) into Mcp-Param-* headers only for tools it has listed.
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	return &sweepFixture{fixture: &fixture{env: env, svc: svc, srv: srv, c: c, audit: auditPath}, slow: slow}
}

// changes are a write each vendor takes on an open incident.
var sweepChanges = map[string]map[string]any{
	"eset":      {"title": "Reviewed under load"},
	"kaspersky": {"status": "closed", "resolution": "false_positive"},
	"dlp":       {"assignee": "analyst@example.com"},
}

// TestEveryCallWithinBudget sweeps upstream latencies (none, half the
// budget, twice the budget, no answer at all) for each vendor and each
// tool: lists, counts, gets, previews, confirmed writes and a confirmed
// write waiting on the lock of an incident another write holds. Every call
// returns within the budget plus the stated margin and slack.
func TestEveryCallWithinBudget(t *testing.T) {
	limit := sweepBudget + sweepMargin + sweepSlack
	latencies := []time.Duration{0, sweepBudget / 2, 2 * sweepBudget, hang}
	f := newSweepFixture(t)
	var mu sync.Mutex
	longest := map[string]time.Duration{}
	var wg sync.WaitGroup
	for vendor, change := range sweepChanges {
		wg.Go(func() {
			t.Run(vendor, func(t *testing.T) {
				// One open incident per latency, and one more for the
				// write that holds the lock.
				_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": vendor, "status": []string{"open"}, "page_size": len(latencies) + 1})
				incs, _ := sc["incidents"].([]any)
				if len(incs) < len(latencies)+1 {
					t.Fatalf("%d open incidents, want %d: %v", len(incs), len(latencies)+1, sc)
				}
				idOf := func(i int) string { return incs[i].(map[string]any)["id"].(string) }
				for li, lat := range latencies {
					name := "hang"
					if lat != hang {
						name = lat.String()
					}
					id := idOf(li)
					args := func(extra map[string]any) map[string]any {
						m := map[string]any{"id": id}
						for k, v := range change {
							m[k] = v
						}
						for k, v := range extra {
							m[k] = v
						}
						return m
					}
					// Confirmations are issued before the upstream slows.
					f.slow[vendor].latency.Store(0)
					_, pv := f.call(t, tools.UpdateIncident, args(nil))
					token, _ := pv["confirmation_token"].(string)
					if token == "" {
						t.Fatalf("no preview at latency 0: %v", pv)
					}
					f.slow[vendor].latency.Store(int64(lat))
					timed := func(tool string, call func()) {
						start := time.Now()
						call()
						d := time.Since(start)
						if d > limit {
							t.Errorf("%s at latency %s took %s, past the budget %s + %s + %s", tool, name, d.Round(time.Millisecond), sweepBudget, sweepMargin, sweepSlack)
						}
						mu.Lock()
						longest[tool] = max(longest[tool], d)
						mu.Unlock()
					}
					timed("list_incidents", func() { f.call(t, tools.ListIncidents, map[string]any{"instance": vendor}) })
					timed("list_incidents count_by", func() {
						f.call(t, tools.ListIncidents, map[string]any{"instance": vendor, "count_by": []string{"severity"}})
					})
					timed("get_incident", func() { f.call(t, tools.GetIncident, map[string]any{"id": id}) })
					timed("update_incident preview", func() { f.call(t, tools.UpdateIncident, args(nil)) })
					timed("update_incident confirm", func() { f.call(t, tools.UpdateIncident, args(map[string]any{"confirmation_token": token})) })
					if lat != hang {
						continue
					}
					// A write holds the lock of another incident (its vendor
					// hangs); a second confirmed write of it waits, boundedly,
					// and says busy with nothing written.
					held := idOf(len(latencies))
					f.slow[vendor].latency.Store(0)
					argsHeld := func(extra map[string]any) map[string]any {
						m := map[string]any{"id": held}
						for k, v := range change {
							m[k] = v
						}
						for k, v := range extra {
							m[k] = v
						}
						return m
					}
					_, p1 := f.call(t, tools.UpdateIncident, argsHeld(nil))
					_, p2 := f.call(t, tools.UpdateIncident, argsHeld(nil))
					f.slow[vendor].latency.Store(int64(hang))
					holder := make(chan struct{})
					go func() {
						defer close(holder)
						f.call(t, tools.UpdateIncident, argsHeld(map[string]any{"confirmation_token": p1["confirmation_token"]}))
					}()
					time.Sleep(sweepBudget / 10) // the holder takes the lock first
					timed("update_incident confirm waiting on the lock", func() {
						res, _ := f.call(t, tools.UpdateIncident, argsHeld(map[string]any{"confirmation_token": p2["confirmation_token"]}))
						if got := text(res); !res.IsError || !strings.Contains(got, "nothing was written") {
							t.Errorf("a confirm behind a held lock: %s", got)
						}
					})
					<-holder
				}
			})
		})
	}
	wg.Wait()
	var b strings.Builder
	for _, tool := range []string{"list_incidents", "list_incidents count_by", "get_incident", "update_incident preview", "update_incident confirm", "update_incident confirm waiting on the lock"} {
		fmt.Fprintf(&b, "\n  %-45s %s", tool, longest[tool].Round(time.Millisecond))
	}
	t.Logf("longest call per tool over latencies %v with a %s budget (limit %s):%s", latencies, sweepBudget, limit, b.String())
}
