package tools_test

import (
	"bytes"
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

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/tools"
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
	srv, rt := benchServer(b)
	for _, vendor := range []string{"eset", "kaspersky", "dlp"} {
		b.Run(vendor, func(b *testing.B) {
			msg := listCall(vendor)
			first := bytes.Clone(handle(b, srv, msg, nil)) // records the vendor's answers
			if bytes.Contains(first, []byte(`"isError":true`)) || !bytes.Contains(first, []byte(`"incidents":[{`)) {
				b.Fatalf("%s: %s", vendor, first)
			}
			rt.replay.Store(true)
			defer rt.replay.Store(false)
			b.ReportAllocs()
			// The transport writes into its connection's pooled buffer:
			// one buffer for every call here, not one grown per call.
			var w bytes.Buffer
			start := cpuTime()
			for b.Loop() {
				handle(b, srv, msg, &w)
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") // the process's CPU: steadier than ns/op on a busy machine
			b.ReportMetric(float64(len(first)), "result-B")
		})
	}
}

// BenchmarkResultEncoding is the encoding of one ESET list result into
// its JSON-RPC response, the way mcp-go does it and the ways it could be
// done: "mcp-go" is the library's path for a structured value (a map of
// the result's fields encoded, then the whole result compacted again by the
// response's encoding); "raw-v1" and "raw-v2" encode structuredContent
// first (encoding/json, or its v2 engine with v1 options) and hand the
// bytes to the library as RawStructuredContent, which it compacts twice;
// "one-pass" writes the same response bytes once, as a library that did
// not re-encode would.
func BenchmarkResultEncoding(b *testing.B) {
	srv, _ := benchServer(b)
	resp, ok := srv.HandleMessage(b.Context(), listCall("eset")).(mcp.JSONRPCResponse)
	if !ok {
		b.Fatal("no response")
	}
	res, ok := resp.Result.(*mcp.CallToolResult)
	if !ok || res.IsError {
		b.Fatalf("no list result: %v", resp.Result)
	}
	want, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	text := res.Content[0].(mcp.TextContent).Text
	withRaw := func(raw []byte) mcp.JSONRPCResponse {
		r := *res
		r.RawStructuredContent = raw
		return mcp.JSONRPCResponse{JSONRPC: resp.JSONRPC, ID: resp.ID, Result: &r}
	}
	v1opts := jsonv1.DefaultOptionsV1()
	for _, c := range []struct {
		name   string
		encode func() ([]byte, error)
	}{
		{"mcp-go", func() ([]byte, error) { return json.Marshal(resp) }},
		{"raw-v1", func() ([]byte, error) {
			raw, err := json.Marshal(res.StructuredContent)
			if err != nil {
				return nil, err
			}
			return json.Marshal(withRaw(raw))
		}},
		{"raw-v2", func() ([]byte, error) {
			raw, err := jsonv2.Marshal(res.StructuredContent, v1opts)
			if err != nil {
				return nil, err
			}
			return json.Marshal(withRaw(raw))
		}},
		{"one-pass", func() ([]byte, error) {
			raw, err := jsonv2.Marshal(res.StructuredContent, v1opts)
			if err != nil {
				return nil, err
			}
			out := make([]byte, 0, len(raw)+len(text)+len(text)/8+128)
			out = append(out, `{"id":`...)
			id, _ := json.Marshal(resp.ID)
			out = append(out, id...)
			out = append(out, `,"jsonrpc":"2.0","result":{"content":[{"type":"text","text":`...)
			q, err := jsonv2.Marshal(text, v1opts)
			if err != nil {
				return nil, err
			}
			out = append(out, q...)
			out = append(out, `}],"structuredContent":`...)
			out = append(out, raw...)
			return append(out, `}}`...), nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			got, err := c.encode()
			if err != nil {
				b.Fatal(err)
			}
			if c.name != "one-pass" && !bytes.Equal(got, want) {
				b.Fatalf("%s encodes other bytes:\n%s\nwant\n%s", c.name, got, want)
			}
			if c.name == "one-pass" && len(got) != len(want) {
				b.Fatalf("one-pass: %d bytes, want %d", len(got), len(want))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchServer is the server over the demo's drivers, whose HTTP clients
// replay the vendor's answers from memory once recorded.
func benchServer(b *testing.B) (*server.MCPServer, *replayTransport) {
	rt := &replayTransport{next: http.DefaultTransport, answers: map[string]*replayed{}}
	env, err := demotest.Start(demotest.Options{Seed: 11, Incidents: 300, Now: fixtureNow, Unlimited: true,
		Build: []wiring.Option{wiring.WithHTTPClient(func(string) *http.Client { return &http.Client{Transport: rt} })}})
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
	handle(b, srv, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"`+protocolVersions[0]+`","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`), nil)
	return srv, rt
}

// listCall is bench-load's call as a JSON-RPC request.
func listCall(instance string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_incidents","arguments":{"instance":"` + instance + `","status":["open","in_progress"],"created_after":"30d","page_size":20}}}`)
}

// handle is one JSON-RPC message through srv and its response encoded, as
// the streamable HTTP transport does, into w (reset first; nil for a new
// buffer). The transport writes into the connection's pooled bufio.Writer,
// which allocates nothing per response: a benchmark reuses w so that B/op
// does not count a 12 KB buffer the server never allocates.
func handle(b *testing.B, srv *server.MCPServer, msg []byte, w *bytes.Buffer) []byte {
	if w == nil {
		w = new(bytes.Buffer)
	}
	w.Reset()
	// The transport's own encoder, not json.Marshal: built with
	// GOEXPERIMENT=jsonv2 the two differ by 90-130 KB and more CPU a call.
	if err := json.NewEncoder(w).Encode(srv.HandleMessage(b.Context(), msg)); err != nil {
		b.Fatal(err)
	}
	return bytes.TrimSuffix(w.Bytes(), []byte("\n"))
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
