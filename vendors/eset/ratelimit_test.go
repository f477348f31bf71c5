package eset_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// simDriver is a driver with ESET's real rate limit against a simulator
// that enforces it.
func simDriver(tb testing.TB, sim *esetsim.Server) *eset.Driver {
	tb.Helper()
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo"})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// TestRateLimitNeverExceeded: concurrent callers of one instance never put
// more than 10 requests into any one second as the simulator counts them,
// refused ones included, so the vendor never answers 429.
func TestRateLimitNeverExceeded(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s of real time")
	}
	if raceEnabled {
		t.Skip("the race detector delays requests by more than the limiter's 40 ms margin")
	}
	sim := esetsim.New(esetsim.Config{Seed: 2, Incidents: 50, Now: simNow})
	d := simDriver(t, sim)
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 9 {
				if _, err := d.List(t.Context(), plan, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	t.Logf("%d requests: at most %d in one second, %d answered 429", st.Requests, st.MaxInSecond, st.TooMany)
	if st.MaxInSecond > 10 || st.TooMany != 0 {
		t.Errorf("%d requests in one second and %d 429s; the limit is 10 per second", st.MaxInSecond, st.TooMany)
	}
}

// TestAsyncForever: a response ESET never finishes preparing ends with a
// clear timeout within the caller's deadline.
func TestAsyncForever(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 2, Incidents: 5, Now: simNow, RateLimit: -1})
	d := simDriver(t, sim)
	sim.SetAsync(esetsim.Forever)
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.Get(ctx, sim.Incidents()[0].UUID)
	took := time.Since(start)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || d.ErrorCode(err) != schema.CodeDeadlineExceeded ||
		!strings.Contains(err.Error(), "ESET was still preparing the answer after") {
		t.Fatalf("Get() = %v (code %s), want a deadline error about the pending answer", err, d.ErrorCode(err))
	}
	if took > 2500*time.Millisecond {
		t.Errorf("took %v, past the deadline", took)
	}
	t.Logf("%v after %v", err, took.Round(time.Millisecond))
}

// BenchmarkLongScanRate pages through a tenant with ESET's real limit of 10
// requests per second, enforced by the simulator in real time, and reports
// the rate the driver achieves and the simulator's count of 429s and of the
// most requests in one second. Run with -benchtime=100x (10 s).
func BenchmarkLongScanRate(b *testing.B) {
	sim := esetsim.New(esetsim.Config{Seed: 11, Incidents: 2000, Now: simNow})
	d := simDriver(b, sim)
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.List(b.Context(), plan, ""); err != nil { // sign in
		b.Fatal(err)
	}
	pos := ""
	before := sim.Stats().Requests
	start := time.Now()
	for b.Loop() {
		page, err := d.List(b.Context(), plan, pos)
		if err != nil {
			b.Fatal(err)
		}
		pos = page.Next
	}
	secs := time.Since(start).Seconds()
	st := sim.Stats()
	rate := float64(st.Requests-before) / secs
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(100*rate/10, "%limit")
	b.ReportMetric(float64(st.TooMany), "429s")
	b.ReportMetric(float64(st.MaxInSecond), "max/s")
}

// countingLimiter counts its waits.
type countingLimiter struct{ waits atomic.Int32 }

func (c *countingLimiter) Wait(ctx context.Context) error { c.waits.Add(1); return ctx.Err() }

// TestSharedLimiter: a configured Limiter replaces the local one and paces
// every API request (sign-in goes to another host, unpaced).
func TestSharedLimiter(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 2, Incidents: 5, Now: simNow, RateLimit: -1})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	shared := &countingLimiter{}
	d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo", RateLimit: 0.001, Limiter: shared})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range sim.Incidents() {
		if _, err := d.Get(t.Context(), inc.UUID); err != nil {
			t.Fatal(err)
		}
	}
	if st := sim.Stats(); int(shared.waits.Load()) != st.Requests {
		t.Errorf("%d API requests, %d waits on the shared limiter", st.Requests, shared.waits.Load())
	}
}
