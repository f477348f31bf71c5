package telemetry

import (
	"context"
	"errors"
	"io"
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

// Vendors observes the vendor instances' HTTP traffic. As the drivers'
// HTTP layer Observer it counts attempts by status, times them, counts 429s,
// retries, breaker changes and rate-limiter waits, and records each
// instance's last contact and breaker state for /readyz. Its RoundTripper
// (Wrap, Client) opens a client span per request under the tool call's span.
type Vendors struct {
	m      *Metrics
	tracer trace.Tracer
	// tracing is false when no exporter is configured: a vendor request
	// then starts no span (a no-op span still cost a context, its options
	// and a copy of the request).
	tracing bool

	mu     sync.Mutex
	states map[string]*InstanceState
}

// Vendors returns the vendor instrumentation, registered as a readiness
// source. tp may be nil (no tracing).
func (m *Metrics) Vendors(tp trace.TracerProvider) *Vendors {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	v := &Vendors{m: m, tracer: tp.Tracer(tracerName), tracing: !isNoop(tp), states: map[string]*InstanceState{}}
	m.health.AddSource(v)
	return v
}

// Wrap returns base (http.DefaultTransport when nil) instrumented for
// instance, which must be a configured instance name.
func (v *Vendors) Wrap(instance string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	v.m.health.Register(instance)
	return &vendorTransport{v: v, instance: instance, base: base}
}

// Client returns an HTTP client for instance with the drivers' usual 60 s
// timeout over an instrumented clone of the default transport that keeps
// enough idle connections for a vendor's concurrency limit.
//
// The timeout is the transport's context deadline, not http.Client.Timeout:
// over a transport it does not know, the client enforces Timeout with a
// goroutine and a timer per request, and the transport watches the legacy
// Cancel channel that sets with one more goroutine, so every vendor request
// woke the process twice more.
func (v *Vendors) Client(instance string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	vt := v.Wrap(instance, tr).(*vendorTransport)
	vt.timeout = clientTimeout
	return &http.Client{Transport: vt}
}

// clientTimeout bounds a vendor request, its body included, when its
// context has no earlier deadline.
const clientTimeout = 60 * time.Second

// InstanceStates implements ReadinessSource.
func (v *Vendors) InstanceStates() []InstanceState {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]InstanceState, 0, len(v.states))
	for _, s := range v.states {
		out = append(out, *s)
	}
	return out
}

func (v *Vendors) update(instance string, f func(*InstanceState)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.states[instance]
	if !ok {
		s = &InstanceState{Instance: instance}
		v.states[instance] = s
	}
	f(s)
}

type vendorTransport struct {
	v        *Vendors
	instance string
	base     http.RoundTripper
	timeout  time.Duration // 0: none of its own
}

func (t *vendorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); t.timeout > 0 && (!ok || time.Until(dl) > t.timeout) {
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	if !t.v.tracing {
		if cancel == nil {
			return t.base.RoundTrip(req)
		}
		resp, err := t.base.RoundTrip(req.WithContext(ctx))
		return cancelWith(resp, err, cancel)
	}
	ctx, span := t.v.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
			attribute.String("incident_mcp.instance", t.instance),
		))
	defer span.End()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if cancel != nil {
		resp, err = cancelWith(resp, err, cancel)
	}
	if err != nil {
		class := errClass(err)
		span.SetStatus(codes.Error, class)
		span.SetAttributes(attribute.String("error.type", class))
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// instance bounds the instance label to the registered instances.
func (v *Vendors) instance(name string) string {
	if v.m.health.known(name) {
		return name
	}
	return "other"
}

// Request implements the HTTP layer's Observer: one attempt, its status
// (0 when no answer came) and duration.
func (v *Vendors) Request(instance, method string, status int, d time.Duration) {
	in := v.instance(instance)
	v.m.durationChild.get(in).Observe(d.Seconds())
	v.m.requestChild.get(requestLabels{in, boundedMethod(method), max(status, 0)}).Inc()
	if status == http.StatusTooManyRequests {
		v.m.vendorLimited.WithLabelValues(in).Inc()
	}
	v.update(in, func(s *InstanceState) {
		if status > 0 {
			s.LastContact, s.LastError = time.Now().UTC(), ""
		} else {
			s.LastError = "no answer"
		}
	})
}

// Retry implements the Observer: an attempt is sent again.
func (v *Vendors) Retry(instance, method, reason string) {
	v.m.vendorRetries.WithLabelValues(v.instance(instance), boundedReason(reason)).Inc()
}

// BreakerState implements the Observer: the instance's breaker changed.
func (v *Vendors) BreakerState(instance, state string) {
	in := v.instance(instance)
	for _, s := range breakerStates {
		val := 0.0
		if s == state {
			val = 1
		}
		v.m.vendorBreaker.WithLabelValues(in, s).Set(val)
	}
	v.update(in, func(s *InstanceState) { s.Breaker = state })
}

// LimiterWait implements the Observer: how long an attempt waited for the
// rate limiter.
func (v *Vendors) LimiterWait(instance string, d time.Duration) {
	v.m.vendorLimiterWait.WithLabelValues(v.instance(instance)).Observe(d.Seconds())
}

var breakerStates = []string{"closed", "half-open", "open"}

// boundedReason keeps retry reasons to status codes and a few words.
func boundedReason(r string) string {
	if _, err := strconv.Atoi(r); err == nil && len(r) == 3 {
		return r
	}
	switch r {
	case "reset", "truncated body", "timeout", "eof":
		return r
	}
	return "other"
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

// cancelWith ends a request's timeout when its body is closed, or now
// when there is no answer.
func cancelWith(resp *http.Response, err error, cancel context.CancelFunc) (*http.Response, error) {
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's timeout when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
