package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/incident-mcp/incident-mcp/incidents"
)

// Network transports, as the semantic conventions name them.
const (
	TransportStdio = "pipe"
	TransportHTTP  = "tcp"
)

// Buckets suited to MCP calls: from a cached tools/list to a long scan.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Metrics holds every instrument and the registry that exposes them.
type Metrics struct {
	reg *prometheus.Registry

	opDuration   *prometheus.HistogramVec
	sessDuration *prometheus.HistogramVec
	authTotal    *prometheus.CounterVec

	vendorRequests *prometheus.CounterVec
	vendorDuration *prometheus.HistogramVec
	vendorLimited  *prometheus.CounterVec
	vendorRetries  *prometheus.CounterVec
	vendorBreaker  *prometheus.GaugeVec

	vendorLimiterWait *prometheus.HistogramVec

	scanRecords  *prometheus.HistogramVec
	scanReturned *prometheus.CounterVec
	scanBudget   *prometheus.CounterVec
	writes       *prometheus.CounterVec
	// unreconciled counts interrupted writes whose outcome is still unknown.
	unreconciled prometheus.Gauge

	// The children of the vectors observed on every call, by label values.
	opChild       *children[opLabels, prometheus.Observer]
	requestChild  *children[requestLabels, prometheus.Counter]
	durationChild *children[string, prometheus.Observer]
	scanChild     *children[string, scanChildren]

	// started holds request start times by session and JSON-RPC id, from
	// the before-hook to the success or error hook.
	started  sync.Map
	sessions sync.Map // session id → start time

	health *Health
}

// NewMetrics registers every instrument in a new registry (plus the Go and
// process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), health: newHealth()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.opDuration = m.histogram("mcp_server_operation_duration_seconds",
		"Duration of MCP requests handled by the server (OTel mcp.server.operation.duration).",
		durationBuckets, "mcp_method_name", "gen_ai_tool_name", "error_type", "mcp_protocol_version", "network_transport")
	m.sessDuration = m.histogram("mcp_server_session_duration_seconds",
		"Duration of MCP sessions, from registration to end or reaping (OTel mcp.server.session.duration).",
		[]float64{1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600}, "network_transport")
	m.authTotal = m.counter("incident_mcp_http_auth_total",
		"HTTP authentications by caller (the method: \"token\" or \"oauth\"; the token's name only with --metrics-caller-labels) and result.", "caller", "result")
	m.vendorRequests = m.counter("incident_mcp_vendor_requests_total",
		"HTTP requests to vendor APIs by instance, method and status code (\"error\" when no response came).", "instance", "method", "status")
	m.vendorDuration = m.histogram("incident_mcp_vendor_request_duration_seconds",
		"Latency of HTTP requests to vendor APIs.", durationBuckets, "instance")
	m.vendorLimited = m.counter("incident_mcp_vendor_rate_limited_total",
		"429 answers from vendor APIs.", "instance")
	m.vendorRetries = m.counter("incident_mcp_vendor_retries_total",
		"Vendor requests sent again, by instance and reason (status code, reset, truncated body).", "instance", "reason")
	m.vendorBreaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "incident_mcp_vendor_breaker_state",
		Help: "The circuit breaker of each instance: 1 for its current state (closed, half-open, open)."}, []string{"instance", "state"})
	m.reg.MustRegister(m.vendorBreaker)
	m.vendorLimiterWait = m.histogram("incident_mcp_vendor_limiter_wait_seconds",
		"Time a vendor request waited for the instance's rate limiter.", []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}, "instance")
	m.scanRecords = m.histogram("incident_mcp_list_records_scanned_per_match",
		"Records read upstream per match returned, per list_incidents call (how much the pushdown narrows).",
		[]float64{1, 1.5, 2, 5, 10, 25, 50, 100, 500, 1000}, "instance")
	m.scanReturned = m.counter("incident_mcp_list_matches_returned_total",
		"Matches returned by list_incidents.", "instance")
	m.scanBudget = m.counter("incident_mcp_list_budget_stops_total",
		"list_incidents calls that stopped because the scan budget was spent.", "instance")
	m.writes = m.counter("incident_mcp_writes_total",
		"update_incident calls by outcome: applied, preview (waiting for confirmation), or the error code.", "outcome")
	m.unreconciled = prometheus.NewGauge(prometheus.GaugeOpts{Name: "incident_mcp_audit_writes_unknown",
		Help: "Writes a crash interrupted whose outcome reconciliation at start could not establish (vendor unreadable, changed since, a comment alone)."})
	m.reg.MustRegister(m.unreconciled)
	m.opChild = newChildren(func(l opLabels) prometheus.Observer {
		return m.opDuration.WithLabelValues(l.method, l.tool, l.errType, l.protocol, l.transport)
	})
	m.requestChild = newChildren(func(l requestLabels) prometheus.Counter {
		code := "error"
		if l.status > 0 {
			code = strconv.Itoa(l.status)
		}
		return m.vendorRequests.WithLabelValues(l.instance, l.method, code)
	})
	m.durationChild = newChildren(func(in string) prometheus.Observer { return m.vendorDuration.WithLabelValues(in) })
	m.scanChild = newChildren(func(in string) scanChildren {
		return scanChildren{returned: m.scanReturned.WithLabelValues(in), records: m.scanRecords.WithLabelValues(in), budget: m.scanBudget.WithLabelValues(in)}
	})
	return m
}

// opLabels are the labels of mcp_server_operation_duration_seconds.
type opLabels struct{ method, tool, errType, protocol, transport string }

// requestLabels are the labels of incident_mcp_vendor_requests_total; a
// status of 0 is "error".
type requestLabels struct {
	instance, method string
	status           int
}

// scanChildren are an instance's list scan instruments.
type scanChildren struct {
	returned, budget prometheus.Counter
	records          prometheus.Observer
}

func (m *Metrics) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(v)
	return v
}

// Registry is where other packages may register their own collectors
// (retries, circuit breaker, limiter wait).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Health is the readiness state behind /healthz and /readyz.
func (m *Metrics) Health() *Health { return m.health }

// ObserveAuth counts an HTTP authentication outcome.
func (m *Metrics) ObserveAuth(callerLabel, result string) {
	if callerLabel == "" {
		callerLabel = "-"
	}
	m.authTotal.WithLabelValues(callerLabel, result).Inc()
}

// knownMethods bounds the mcp_method_name label: a client can send any
// method string, and an unknown one is counted as "other".
var knownMethods = []mcp.MCPMethod{
	mcp.MethodInitialize, mcp.MethodPing, mcp.MethodToolsList, mcp.MethodToolsCall,
	mcp.MethodResourcesList, mcp.MethodResourcesTemplatesList, mcp.MethodResourcesRead,
	mcp.MethodPromptsList, mcp.MethodPromptsGet, mcp.MethodSetLogLevel, mcp.MethodCompletionComplete,
}

type startKey struct {
	session string
	id      any
}

// Instrument adds hooks to s that time every request and session.
// transport is TransportStdio or TransportHTTP. Call it before serving.
func (m *Metrics) Instrument(s *server.MCPServer, transport string) {
	h := s.GetHooks()
	if h == nil {
		h = &server.Hooks{}
		server.WithHooks(h)(s)
	}
	h.AddBeforeAny(func(ctx context.Context, id any, method mcp.MCPMethod, _ any) {
		if id != nil {
			m.started.Store(startKey{sessionID(ctx), fmt.Sprint(id)}, time.Now())
		}
	})
	done := func(ctx context.Context, id any, method mcp.MCPMethod, message any, result any, errType string) {
		k := startKey{sessionID(ctx), fmt.Sprint(id)}
		v, ok := m.started.LoadAndDelete(k)
		if !ok {
			return
		}
		tool := ""
		if method == mcp.MethodToolsCall {
			if req, ok := message.(*mcp.CallToolRequest); ok && s.GetTool(req.Params.Name) != nil {
				tool = req.Params.Name
			} else {
				tool = "other"
			}
			if r, ok := result.(*mcp.CallToolResult); ok {
				if r.IsError && errType == "" {
					errType = "tool_error"
				}
				m.observeResult(r)
			}
		}
		name := string(method)
		if !slices.Contains(knownMethods, method) {
			name = "other"
		}
		m.opChild.get(opLabels{name, tool, errType, protocolVersion(ctx, message), transport}).
			Observe(time.Since(v.(time.Time)).Seconds())
	}
	h.AddOnSuccess(func(ctx context.Context, id any, method mcp.MCPMethod, message any, result any) {
		done(ctx, id, method, message, result, "")
	})
	h.AddOnError(func(ctx context.Context, id any, method mcp.MCPMethod, message any, err error) {
		done(ctx, id, method, message, nil, errorType(err))
	})
	h.AddOnRegisterSession(func(_ context.Context, sess server.ClientSession) {
		m.sessions.Store(sess.SessionID(), time.Now())
	})
	h.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		if v, ok := m.sessions.LoadAndDelete(sess.SessionID()); ok {
			m.sessDuration.WithLabelValues(transport).Observe(time.Since(v.(time.Time)).Seconds())
		}
	})
}

// ListResult is the structured result of a list call that carries its
// *incidents.QueryResult in a type of the tools' own (one that encodes
// without allocating per record).
type ListResult interface{ QueryResult() *incidents.QueryResult }

// observeResult records list scan statistics and write outcomes from a
// tool's structured result.
func (m *Metrics) observeResult(r *mcp.CallToolResult) {
	sc := r.StructuredContent
	if l, ok := sc.(ListResult); ok {
		sc = l.QueryResult()
	}
	switch v := sc.(type) {
	case *incidents.QueryResult:
		if v.Scan == nil { // several instances, or a count
			break
		}
		in := v.Query.Instance
		if !m.health.known(in) {
			in = "other"
		}
		c := m.scanChild.get(in)
		c.returned.Add(float64(len(v.Incidents)))
		if n := len(v.Incidents); n > 0 {
			c.records.Observe(float64(v.Scan.Scanned) / float64(n))
		}
		if v.Scan.BudgetReached {
			c.budget.Inc()
		}
	}
	if o, ok := writeOutcome(r); ok {
		m.writes.WithLabelValues(o).Inc()
	}
}

func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

// protocolVersion is the request's protocol version, bounded to the ones
// mcp-go knows.
func protocolVersion(ctx context.Context, message any) string {
	v := server.RequestProtocolVersion(ctx)
	if v == "" {
		if init, ok := message.(*mcp.InitializeRequest); ok {
			v = init.Params.ProtocolVersion
		}
	}
	switch {
	case v == "":
		return ""
	case slices.Contains(mcp.ValidProtocolVersions, v):
		return v
	}
	return "other"
}

// errorType follows the conventions: the JSON-RPC error code of a failed
// request, "_OTHER" when there is none.
func errorType(err error) string {
	var re interface{ ToJSONRPCError() mcp.JSONRPCError }
	if errors.As(err, &re) {
		return strconv.Itoa(re.ToJSONRPCError().Error.Code)
	}
	return "_OTHER"
}

// WriteResult is the structured result of a write tool: it says how the
// call ended, as the write-outcome metric counts it ("applied", "preview",
// "pending", "declined", an audit outcome of a failed write, or the error
// code of a refusal).
type WriteResult interface{ WriteOutcome() string }

// writeOutcome classifies a write tool's result, or reports false for the
// results of other tools. A request for the user's input (elicitation) is
// a preview waiting for its confirmation.
func writeOutcome(r *mcp.CallToolResult) (string, bool) {
	if w, ok := r.StructuredContent.(WriteResult); ok {
		return w.WriteOutcome(), true
	}
	if r.ResultType == mcp.ResultTypeInputRequired {
		return "preview", true
	}
	return "", false
}
