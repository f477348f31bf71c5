package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// VendorTransports instruments the HTTP clients of the vendor drivers: one
// RoundTripper per instance counts requests by status, times them, counts
// 429s, records the last contact for /readyz and opens a client span per
// request under the tool call's span.
type VendorTransports struct {
	m      *Metrics
	tracer trace.Tracer

	mu     sync.Mutex
	states map[string]*InstanceState
}

// VendorTransports returns the vendor instrumentation, registered as a
// readiness source. tp may be nil (no tracing).
func (m *Metrics) VendorTransports(tp trace.TracerProvider) *VendorTransports {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	v := &VendorTransports{m: m, tracer: tp.Tracer(tracerName), states: map[string]*InstanceState{}}
	m.health.AddSource(v)
	return v
}

// Wrap returns base (http.DefaultTransport when nil) instrumented for
// instance, which must be a configured instance name.
func (v *VendorTransports) Wrap(instance string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	v.m.health.Register(instance)
	return &vendorTransport{v: v, instance: instance, base: base}
}

// Client returns an HTTP client for instance with the drivers' usual 60 s
// timeout over an instrumented clone of the default transport that keeps
// enough idle connections for a vendor's concurrency limit.
func (v *VendorTransports) Client(instance string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Timeout: 60 * time.Second, Transport: v.Wrap(instance, tr)}
}

// InstanceStates implements ReadinessSource.
func (v *VendorTransports) InstanceStates() []InstanceState {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]InstanceState, 0, len(v.states))
	for _, s := range v.states {
		out = append(out, *s)
	}
	return out
}

func (v *VendorTransports) record(instance string, answered bool, errClass string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.states[instance]
	if !ok {
		s = &InstanceState{Instance: instance}
		v.states[instance] = s
	}
	if answered {
		s.LastContact, s.LastError = time.Now().UTC(), ""
	} else {
		s.LastError = errClass
	}
}

type vendorTransport struct {
	v        *VendorTransports
	instance string
	base     http.RoundTripper
}

func (t *vendorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.v.tracer.Start(req.Context(), req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
			attribute.String("incident_mcp.instance", t.instance),
		))
	defer span.End()
	start := time.Now()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	t.v.m.vendorDuration.WithLabelValues(t.instance).Observe(time.Since(start).Seconds())
	method := boundedMethod(req.Method)
	if err != nil {
		class := errClass(err)
		t.v.m.vendorRequests.WithLabelValues(t.instance, method, "error").Inc()
		t.v.record(t.instance, false, class)
		span.SetStatus(codes.Error, class)
		span.SetAttributes(attribute.String("error.type", class))
		return nil, err
	}
	t.v.m.vendorRequests.WithLabelValues(t.instance, method, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.v.m.vendorLimited.WithLabelValues(t.instance).Inc()
	}
	t.v.record(t.instance, true, "")
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return m
	}
	return "other"
}

// errClass names a transport failure without its text (which holds URLs).
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)), errors.As(err, new(*net.DNSError)):
		return "connection"
	}
	return "other"
}
