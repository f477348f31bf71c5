package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
