package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/tools"
)

// newServer is the real tool server over the demo, instrumented.
func newServer(t *testing.T, readOnly bool) (*client.Client, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics()
	v := m.Vendors(nil)
	env, err := demotest.Start(demotest.Options{Unlimited: true, Build: []wiring.Option{wiring.WithHTTPClient(v.Client), wiring.WithObserver(v)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, _ := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	log := slog.New(slog.DiscardHandler)
	svc, err := incidents.New(env.Instances, sealer, log)
	if err != nil {
		t.Fatal(err)
	}
	// The token path: this in-process client has no elicitation.
	policy := &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathToken}}}
	s := tools.NewServer(svc, "test", log, tools.Options{ReadOnly: readOnly, Update: tools.UpdateOptions{Policy: policy}})
	for _, in := range env.Instances {
		m.Health().Register(in.Name)
	}
	m.Instrument(s, telemetry.TransportHTTP)
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "t", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c, m
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, _ := c.CallTool(t.Context(), req)
	return res
}

func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// series counts the samples of our own metrics (the Go runtime and process
// collectors are fixed-size and left out).
func series(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "process_") || strings.HasPrefix(l, "promhttp_") {
			continue
		}
		n++
	}
	return n
}

func TestOperationMetrics(t *testing.T) {
	c, m := newServer(t, true)
	list := callTool(t, c, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 3})
	if list == nil || list.IsError {
		t.Fatalf("list: %+v", list)
	}
	sc := list.StructuredContent.(map[string]any)
	id := sc["incidents"].([]any)[0].(map[string]any)["id"].(string)
	if r := callTool(t, c, tools.GetIncident, map[string]any{"id": id}); r == nil || r.IsError {
		t.Fatalf("get: %+v", r)
	}
	if r := callTool(t, c, tools.ListIncidents, map[string]any{"instance": "eset", "where": "incident.nope"}); r == nil || !r.IsError {
		t.Fatalf("bad where: %+v", r)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="list_incidents",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="get_incident",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="tool_error",gen_ai_tool_name="list_incidents",mcp_method_name="tools/call",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`mcp_server_operation_duration_seconds_count{error_type="",gen_ai_tool_name="",mcp_method_name="initialize",mcp_protocol_version="2025-06-18",network_transport="tcp"} 1`,
		`incident_mcp_list_matches_returned_total{instance="eset"} 3`,
		`incident_mcp_list_records_scanned_per_match_count{instance="eset"} 1`,
		`incident_mcp_vendor_requests_total{instance="eset",method="GET",status="200"}`,
		`incident_mcp_vendor_request_duration_seconds_count{instance="eset"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
	for _, st := range m.Health().States() {
		if st.Instance == "eset" && st.LastContact.IsZero() {
			t.Errorf("readiness has no contact with eset: %+v", st)
		}
	}
}

// TestSeriesBounded: whatever clients send (ids, unknown tools, unknown
// methods, free text), the number of series stops growing once every
// operation kind has been seen.
func TestSeriesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 calls")
	}
	c, m := newServer(t, true)
	round := func(i int) {
		switch i % 5 {
		case 0:
			callTool(t, c, tools.GetIncident, map[string]any{"id": fmt.Sprintf("nowhere:%d", i)})
		case 1:
			callTool(t, c, fmt.Sprintf("no_such_tool_%d", i), nil)
		case 2:
			callTool(t, c, tools.ListIncidents, map[string]any{"instance": fmt.Sprintf("x%d", i)})
		case 3:
			c.ListTools(t.Context(), mcp.ListToolsRequest{})
		case 4: // a real scan now and then, plans without vendor calls otherwise
			args := map[string]any{"instance": "dlp", "page_size": 1, "where": fmt.Sprintf("incident.title != %q", fmt.Sprint(i))}
			if i%50 != 4 {
				args["explain"] = true
			}
			callTool(t, c, tools.ListIncidents, args)
		}
	}
	for i := range 10 {
		round(i)
	}
	after10 := series(scrape(t, m))
	for i := 10; i < 10_000; i++ {
		round(i)
	}
	if after := series(scrape(t, m)); after != after10 {
		t.Errorf("series: %d after 10 calls, %d after 10,000", after10, after)
	}
}

// TestTracing: a tool call continues the trace in params._meta, its span is
// named per the conventions, and a vendor request made inside it is a child
// client span.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	m := telemetry.NewMetrics()
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		io.WriteString(w, "{}")
	}))
	defer vendor.Close()
	hc := &http.Client{Transport: m.Vendors(tp).Wrap("eset", nil)}

	s := server.NewMCPServer("t", "1")
	s.AddTool(mcp.NewTool("list_incidents"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for _, p := range []string{"/ok", "/limited"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, vendor.URL+p, nil)
			resp, err := hc.Do(req)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
		}
		return mcp.NewToolResultText("ok"), nil
	})
	s.Use(telemetry.ToolTracing(tp, telemetry.TransportStdio))
	c, _ := client.NewInProcessClient(s)
	c.Start(t.Context())
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	c.Initialize(t.Context(), init)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := mcp.CallToolRequest{}
	req.Params.Name = "list_incidents"
	req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}}
	if _, err := c.CallTool(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	var tool sdktrace.ReadOnlySpan
	var vendorSpans []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		switch sp.SpanKind() {
		case trace.SpanKindServer:
			tool = sp
		case trace.SpanKindClient:
			vendorSpans = append(vendorSpans, sp)
		}
	}
	if tool == nil || tool.Name() != "tools/call list_incidents" {
		t.Fatalf("spans: %v", spans)
	}
	if got := tool.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("trace id %s, want the client's %s", got, traceID)
	}
	if tool.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("parent %s", tool.Parent().SpanID())
	}
	if len(vendorSpans) != 2 {
		t.Fatalf("vendor spans: %d", len(vendorSpans))
	}
	for _, v := range vendorSpans {
		if v.Parent().SpanID() != tool.SpanContext().SpanID() {
			t.Errorf("vendor span %s is not a child of the tool span", v.Name())
		}
	}
}

// TestObserver: what the drivers' HTTP layer reports becomes bounded
// series and the readiness state.
func TestObserver(t *testing.T) {
	m := telemetry.NewMetrics()
	m.Health().Register("eset")
	v := m.Vendors(nil)
	v.Request("eset", "GET", 429, 10*time.Millisecond)
	v.Request("eset", "GET", 0, time.Second)
	v.Request("eset-typo", "GET", 200, time.Millisecond)
	v.Retry("eset", "GET", "429")
	v.Retry("eset", "GET", "something free-form https://host/")
	v.BreakerState("eset", "open")
	v.LimiterWait("eset", 50*time.Millisecond)
	text := scrape(t, m)
	for _, want := range []string{
		`incident_mcp_vendor_requests_total{instance="eset",method="GET",status="429"} 1`,
		`incident_mcp_vendor_requests_total{instance="eset",method="GET",status="error"} 1`,
		`incident_mcp_vendor_requests_total{instance="other",method="GET",status="200"} 1`,
		`incident_mcp_vendor_rate_limited_total{instance="eset"} 1`,
		`incident_mcp_vendor_retries_total{instance="eset",reason="429"} 1`,
		`incident_mcp_vendor_retries_total{instance="eset",reason="other"} 1`,
		`incident_mcp_vendor_breaker_state{instance="eset",state="open"} 1`,
		`incident_mcp_vendor_breaker_state{instance="eset",state="closed"} 0`,
		`incident_mcp_vendor_limiter_wait_seconds_count{instance="eset"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	st := m.Health().States()
	if len(st) != 1 || st[0].Breaker != "open" || st[0].LastContact.IsZero() || st[0].LastError != "no answer" {
		t.Errorf("readiness: %+v", st)
	}
}

func TestWriteOutcomes(t *testing.T) {
	c, m := newServer(t, false)
	list := callTool(t, c, tools.ListIncidents, map[string]any{"instance": "eset", "status": []string{"open"}, "page_size": 1})
	id := list.StructuredContent.(map[string]any)["incidents"].([]any)[0].(map[string]any)["id"].(string)
	if r := callTool(t, c, tools.UpdateIncident, map[string]any{"id": id, "title": "renamed by the metrics test"}); r == nil || r.IsError {
		t.Fatalf("preview: %+v", r)
	}
	if r := callTool(t, c, tools.UpdateIncident, map[string]any{"id": id}); r == nil || !r.IsError {
		t.Fatalf("empty patch: %+v", r)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`incident_mcp_writes_total{outcome="preview"} 1`,
		`incident_mcp_writes_total{outcome="invalid_argument"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
