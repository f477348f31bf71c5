package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestVendorClientTimeout: the vendor client's timeout is the transport's
// context deadline, body included, and not http.Client.Timeout, which
// costs a goroutine and a timer per request over a wrapped transport.
func TestVendorClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select { // the body never ends before the client gives up
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := NewMetrics().Vendors(nil).Client("eset")
	if c.Timeout != 0 {
		t.Fatalf("http.Client.Timeout = %s; the timeout belongs to the transport", c.Timeout)
	}
	vt, ok := c.Transport.(*vendorTransport)
	if !ok || vt.timeout != clientTimeout {
		t.Fatalf("transport %T without the client timeout", c.Transport)
	}
	vt.timeout = 50 * time.Millisecond
	for name, ctx := range map[string]context.Context{
		"no deadline": t.Context(),
		"later deadline": func() context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
			t.Cleanup(cancel)
			return ctx
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("reading a body that never ends: %v, want the deadline", err)
			}
		})
	}
}

// recordingTransport keeps the requests it is given.
type recordingTransport struct{ got []*http.Request }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestNoTracingCostsNothing: without an exporter a vendor request reaches
// the transport as it came (no span in a new context, no copy of the
// request), and the tool middleware hands back the handler itself.
func TestNoTracingCostsNothing(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{"nil": nil, "no-op": noop.NewTracerProvider()} {
		t.Run(name, func(t *testing.T) {
			base := &recordingTransport{}
			rt := NewMetrics().Vendors(tp).Wrap("eset", base)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // earlier than the client timeout
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vendor.invalid/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if len(base.got) != 1 || base.got[0] != req {
				t.Errorf("the transport got %v, want the request itself", base.got)
			}
			if tp == nil {
				return
			}
			called := false
			var h server.ToolHandlerFunc = func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				called = true
				return nil, nil
			}
			wrapped := ToolTracing(tp, TransportHTTP)(h)
			wrapped(t.Context(), mcp.CallToolRequest{})
			if !called || reflect.ValueOf(wrapped).Pointer() != reflect.ValueOf(h).Pointer() {
				t.Errorf("ToolTracing wrapped the handler without an exporter")
			}
		})
	}
}
