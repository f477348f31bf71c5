package telemetry

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/incident-mcp/incident-mcp/caller"
)

const tracerName = "github.com/incident-mcp/incident-mcp"

// TracingEnabled reports whether the standard OTEL_* variables ask for an
// OTLP trace exporter.
func TracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// NewTracerProvider returns an OTLP/HTTP tracer provider configured by the
// standard OTEL_* variables (endpoint, headers, sampler, resource) when
// TracingEnabled, else a no-op provider. shutdown flushes pending spans.
func NewTracerProvider(ctx context.Context, getenv func(string) string, version string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !TracingEnabled(getenv) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := sdkresource.Merge(sdkresource.Default(), sdkresource.NewSchemaless(
		semconv.ServiceName("incident-mcp"), semconv.ServiceVersion(version)))
	if err != nil {
		res = sdkresource.Default()
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// ToolTracing returns a tool handler middleware that runs each call in a
// server span named per the MCP conventions ("tools/call list_incidents"),
// continuing the trace the client put in params._meta (traceparent,
// tracestate), so vendor calls become child spans.
//
// Without an exporter (a no-op tp) it adds nothing to a call: a no-op span
// still cost its attributes, options and context on every call.
func ToolTracing(tp trace.TracerProvider, transport string) server.ToolHandlerMiddleware {
	if isNoop(tp) {
		return func(next server.ToolHandlerFunc) server.ToolHandlerFunc { return next }
	}
	tracer := tp.Tracer(tracerName)
	prop := propagation.TraceContext{}
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if meta := req.Params.Meta; meta != nil && meta.AdditionalFields != nil {
				ctx = prop.Extract(ctx, metaCarrier(meta.AdditionalFields))
			}
			attrs := []attribute.KeyValue{
				attribute.String("mcp.method.name", string(mcp.MethodToolsCall)),
				attribute.String("gen_ai.tool.name", req.Params.Name),
				attribute.String("gen_ai.operation.name", "execute_tool"),
				attribute.String("network.transport", transport),
			}
			if v := server.RequestProtocolVersion(ctx); v != "" {
				attrs = append(attrs, attribute.String("mcp.protocol.version", v))
			}
			if id := sessionID(ctx); id != "" {
				attrs = append(attrs, attribute.String("mcp.session.id", id))
			}
			if name := caller.Name(ctx); name != "" {
				attrs = append(attrs, attribute.String("enduser.id", name))
			}
			ctx, span := tracer.Start(ctx, string(mcp.MethodToolsCall)+" "+req.Params.Name,
				trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
			defer span.End()
			res, err := next(ctx, req)
			switch {
			case err != nil:
				span.SetStatus(codes.Error, "handler error")
				span.SetAttributes(attribute.String("error.type", "_OTHER"))
			case res != nil && res.IsError:
				span.SetStatus(codes.Error, "tool error")
				span.SetAttributes(attribute.String("error.type", "tool_error"))
			}
			return res, err
		}
	}
}

// isNoop tells whether tp records nothing: nil or the no-op provider
// NewTracerProvider returns when no exporter is configured.
func isNoop(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return false
}

// metaCarrier reads W3C trace context from the _meta property bag.
type metaCarrier map[string]any

func (c metaCarrier) Get(key string) string {
	s, _ := c[key].(string)
	return s
}

func (c metaCarrier) Set(key, value string) { c[key] = value }

func (c metaCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}
