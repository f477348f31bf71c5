package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// BenchmarkListIncidents is one list_incidents call in-process, through the
// MCP client, the service and the ESET driver, against esetsim on loopback
// (high or above, open or in progress, last 30 days, 20 per page).
// cpu-ns/op is the whole process's CPU time per call, simulator and client
// included. Target: ≤ 1,600 allocs/op; `make bench-load` measures the
// server alone.
func BenchmarkListIncidents(b *testing.B) {
	f := newFixtureTB(b, protocolVersions[1], setup{})
	req := mcp.CallToolRequest{}
	req.Params.Name = tools.ListIncidents
	req.Params.Arguments = map[string]any{"instance": "eset", "min_severity": "high", "status": []string{"open", "in_progress"}, "created_after": "30d", "page_size": 20}
	b.ReportAllocs()
	start := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		res, err := f.c.CallTool(b.Context(), req)
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkServerList is one list_incidents call as the server alone pays
// for it, per vendor: the JSON-RPC request decoded, the tool run through the
// service and the driver, and the response encoded, as the streamable HTTP
// transport does. The vendor's answers are recorded from the simulators once
// and replayed from memory, so allocs/op and B/op count the server's own
// work only (not the simulator's, nor a client's). The call is bench-load's:
// open or in progress, created in the last 30 days, 20 per page. Target for
// ESET: ≤ 60 KB and ≤ 300 allocs/op.
func BenchmarkServerList(b *testing.B) {
	rt := &replayTransport{next: http.DefaultTransport, answers: map[string]*replayed{}}
	env, err := demo.Start(demo.Options{Seed: 11, Incidents: 300, Now: fixtureNow, Unlimited: true,
		Build: []registry.BuildOption{registry.WithHTTPClient(func(string) *http.Client { return &http.Client{Transport: rt} })}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler), incidents.WithClock(func() time.Time { return fixtureNow }))
	if err != nil {
		b.Fatal(err)
	}
	srv := tools.NewServer(svc, "bench", slog.New(slog.DiscardHandler), tools.Options{ReadOnly: true})
	call := func(ctx context.Context, msg []byte) []byte {
		out, err := json.Marshal(srv.HandleMessage(ctx, msg))
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	call(b.Context(), []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+protocolVersions[0]+`","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	for _, vendor := range []string{"eset", "kaspersky", "dlp"} {
		b.Run(vendor, func(b *testing.B) {
			msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_incidents","arguments":{"instance":"` + vendor + `","status":["open","in_progress"],"created_after":"30d","page_size":20}}}`)
			first := call(b.Context(), msg) // records the vendor's answers
			if bytes.Contains(first, []byte(`"isError":true`)) || !bytes.Contains(first, []byte(`"incidents":[{`)) {
				b.Fatalf("%s: %s", vendor, first)
			}
			rt.replay.Store(true)
			defer rt.replay.Store(false)
			b.ReportAllocs()
			for b.Loop() {
				call(b.Context(), msg)
			}
			b.ReportMetric(float64(len(first)), "result-B")
		})
	}
}

// replayTransport sends each distinct request upstream once and then, while
// replay is on, answers it again from memory.
type replayTransport struct {
	next    http.RoundTripper
	replay  atomic.Bool
	mu      sync.Mutex
	answers map[string]*replayed
}

type replayed struct {
	status int
	header http.Header
	body   []byte
}

func (t *replayTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	key := r.Method + " " + r.URL.String() + " " + string(body)
	t.mu.Lock()
	a := t.answers[key]
	t.mu.Unlock()
	if a == nil || !t.replay.Load() {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		a = &replayed{status: resp.StatusCode, header: resp.Header, body: b}
		t.mu.Lock()
		t.answers[key] = a
		t.mu.Unlock()
	}
	return &http.Response{StatusCode: a.status, Header: a.header, Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: r}, nil
}
