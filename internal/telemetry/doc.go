// Package telemetry observes the server: Prometheus metrics named after the
// OpenTelemetry MCP semantic conventions (as Prometheus renders them), vendor
// call metrics per instance from an instrumented http.RoundTripper, list scan
// statistics, /healthz and /readyz, and OpenTelemetry tracing that is off
// unless the standard OTEL_* variables configure an OTLP exporter.
//
// Every label has a bounded set of values: methods and tool names are
// checked against known sets, instances come from configuration, and HTTP
// statuses are reduced to their code. No ids, no free text.
package telemetry
