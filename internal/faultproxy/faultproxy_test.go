package faultproxy_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/faultproxy"
)

// TestFaults: each fault does what it says, and only forwarding faults
// reach the server.
func TestFaults(t *testing.T) {
	var reached atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"incidents":[{"id":"1"},{"id":"2"},{"id":"3"}]}`)
	}))
	defer backend.Close()
	for _, tc := range []struct {
		fault       faultproxy.Fault
		wantStatus  int
		wantErr     bool
		wantReached bool
	}{
		{faultproxy.Status500, 500, false, false},
		{faultproxy.Status502, 502, false, false},
		{faultproxy.Status503, 503, false, false},
		{faultproxy.Status429, 429, false, false},
		{faultproxy.ResetBefore, 0, true, false},
		{faultproxy.ResetAfter, 0, true, true},
		{faultproxy.Truncate, 200, true, true},
		{faultproxy.None, 200, false, true},
	} {
		t.Run(string(tc.fault)+"none", func(t *testing.T) {
			ratio := map[faultproxy.Fault]float64{}
			if tc.fault != faultproxy.None {
				ratio[tc.fault] = 1
			}
			p, err := faultproxy.New(faultproxy.Config{Target: backend.URL, Seed: 1, Ratio: ratio})
			if err != nil {
				t.Fatal(err)
			}
			u, stop, err := faultproxy.Serve(p)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			reached.Store(0)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u+"/x", strings.NewReader(`{}`))
			resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
				}
				if tc.fault == faultproxy.Status429 && resp.Header.Get("Retry-After") != "1" {
					t.Errorf("429 without Retry-After")
				}
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want error %v (body %q)", err, tc.wantErr, body)
			}
			if tc.fault == faultproxy.Truncate && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("cut body: %v, want unexpected EOF", err)
			}
			if got := reached.Load() == 1; got != tc.wantReached {
				t.Errorf("reached the server: %v, want %v", got, tc.wantReached)
			}
			if st := p.Stats(); st.Requests != 1 || (tc.fault != faultproxy.None && st.Injected[tc.fault] != 1) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRatio: the draw follows the configured share and repeats with its
// seed.
func TestRatio(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }))
	defer backend.Close()
	draw := func(seed uint64) faultproxy.Stats {
		p, err := faultproxy.New(faultproxy.Config{Target: backend.URL, Seed: seed, Ratio: faultproxy.Uniform(0.2), DelayFor: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		u, stop, err := faultproxy.Serve(p)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		for range 1000 {
			if resp, err := http.Get(u); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		return p.Stats()
	}
	st1, st2 := draw(7), draw(7)
	total := 0
	for _, f := range faultproxy.Faults {
		total += st1.Injected[f]
		if st1.Injected[f] != st2.Injected[f] {
			t.Errorf("same seed, different draws: %v vs %v", st1.Injected, st2.Injected)
		}
	}
	// Go's transport re-sends a GET whose reused connection was reset, so
	// the proxy sees a few more requests than were made.
	if share := float64(total) / float64(st1.Requests); st1.Requests < 1000 || share < 0.16 || share > 0.25 {
		t.Errorf("%d of %d faulted, want about one in five", total, st1.Requests)
	}
}
