package httpx_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/faultproxy"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// backend answers JSON and counts what reached it.
type backend struct {
	hits   atomic.Int32
	status atomic.Int32 // 0 means 200
	srv    *httptest.Server
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if s := b.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		io.WriteString(w, `{"incidents":[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"}]}`)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// through puts a proxy with one fault on every request in front of b.
func through(t *testing.T, b *backend, f faultproxy.Fault) string {
	p, err := faultproxy.New(faultproxy.Config{Target: b.srv.URL, Seed: 1, Ratio: map[faultproxy.Fault]float64{f: 1}, DelayFor: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	u, stop, err := faultproxy.Serve(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return u
}

// observer counts what the layer reports.
type observer struct {
	mu       sync.Mutex
	requests int
	retries  []string
	states   []string
}

func (o *observer) Request(_, _ string, _ int, _ time.Duration) {
	o.mu.Lock()
	o.requests++
	o.mu.Unlock()
}
func (o *observer) Retry(_, _, reason string) {
	o.mu.Lock()
	o.retries = append(o.retries, reason)
	o.mu.Unlock()
}
func (o *observer) BreakerState(_, state string) {
	o.mu.Lock()
	o.states = append(o.states, state)
	o.mu.Unlock()
}
func (o *observer) LimiterWait(string, time.Duration) {}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newClient(o *observer, cfg httpx.Config) *httpx.Client {
	cfg.Instance = "acme"
	cfg.Observer = o
	if cfg.Sleep == nil {
		cfg.Sleep = noSleep
	}
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	return httpx.New(cfg)
}

// TestRetryPolicy: reads are retried on every transient failure until the
// attempts run out; writes that reached the wire never are, and say their
// outcome is unknown.
func TestRetryPolicy(t *testing.T) {
	for _, tc := range []struct {
		fault      faultproxy.Fault
		idempotent bool
		// wantAttempts is how many reached the proxy; wantStatus the
		// answer handed back (0: an error).
		wantAttempts int
		wantStatus   int
		wantUnknown  bool
	}{
		{faultproxy.Status500, true, 4, 500, false},
		{faultproxy.Status503, true, 4, 503, false},
		{faultproxy.Status503, false, 1, 503, false},
		{faultproxy.Status429, false, 4, 429, false},
		{faultproxy.ResetBefore, true, 4, 0, false},
		{faultproxy.ResetBefore, false, 1, 0, true},
		{faultproxy.ResetAfter, false, 1, 0, true},
		{faultproxy.Truncate, true, 4, 0, false},
		{faultproxy.Truncate, false, 1, 0, true},
	} {
		name := string(tc.fault) + map[bool]string{true: " read", false: " write"}[tc.idempotent]
		t.Run(name, func(t *testing.T) {
			b := newBackend(t)
			u := through(t, b, tc.fault)
			o := &observer{}
			c := newClient(o, httpx.Config{Policy: httpx.Policy{Retry429: true}})
			resp, err := c.Do(t.Context(), &httpx.Request{Method: http.MethodPost, URL: u + "/v2/x", Body: []byte(`{}`), Idempotent: tc.idempotent})
			if o.requests != tc.wantAttempts {
				t.Errorf("%d attempts, want %d (retries %v)", o.requests, tc.wantAttempts, o.retries)
			}
			if tc.wantStatus != 0 {
				if err != nil || resp.Status != tc.wantStatus {
					t.Fatalf("Do() = %+v, %v; want the %d answer", resp, err, tc.wantStatus)
				}
				return
			}
			if err == nil {
				t.Fatalf("Do() = %+v, want an error", resp)
			}
			if !strings.HasPrefix(err.Error(), "POST /v2/x: ") {
				t.Errorf("error %q does not name the request", err)
			}
			if errors.Is(err, driver.ErrOutcomeUnknown) != tc.wantUnknown {
				t.Errorf("error %v: outcome unknown %v, want %v", err, !tc.wantUnknown, tc.wantUnknown)
			}
		})
	}
}

// TestRetryAfterAndDeadline: a Retry-After is honoured, and a wait that
// would pass the deadline is not started.
func TestRetryAfterAndDeadline(t *testing.T) {
	b := newBackend(t)
	u := through(t, b, faultproxy.Status429) // Retry-After: 1
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	c := newClient(&observer{}, httpx.Config{Policy: httpx.Policy{Retry429: true, MaxAttempts: 2}, Common: httpx.Common{Sleep: sleep}})
	if _, err := c.Do(t.Context(), &httpx.Request{Method: http.MethodGet, URL: u, Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != time.Second {
		t.Errorf("waits %v, want the Retry-After of 1s", waits)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	waits = nil
	resp, err := c.Do(ctx, &httpx.Request{Method: http.MethodGet, URL: u, Idempotent: true})
	if err != nil || resp.Status != 429 || len(waits) != 0 {
		t.Errorf("with 300ms left: %v, %v, waits %v; want the 429 without waiting", resp, err, waits)
	}
}

// TestBreaker: a vendor that keeps failing is not called while the breaker
// is open, with an error that says so and for how long; it is tried again
// after that.
func TestBreaker(t *testing.T) {
	b := newBackend(t)
	b.status.Store(500)
	o := &observer{}
	c := newClient(o, httpx.Config{TripAfter: 3, OpenFor: 200 * time.Millisecond, Policy: httpx.Policy{MaxAttempts: 2}})
	get := func() (*httpx.Response, error) {
		return c.Do(t.Context(), &httpx.Request{Method: http.MethodGet, URL: b.srv.URL, Idempotent: true})
	}
	get() // 2 failures
	get() // the 3rd trips it
	hits := b.hits.Load()
	_, err := get()
	var open *httpx.BreakerOpenError
	if !errors.As(err, &open) || !strings.Contains(err.Error(), "acme is failing; the server stopped calling it for ") {
		t.Fatalf("after 3 failures: %v, want the breaker's error", err)
	}
	if b.hits.Load() != hits {
		t.Error("an open breaker let a request through")
	}
	time.Sleep(250 * time.Millisecond)
	b.status.Store(0)
	if resp, err := get(); err != nil || resp.Status != 200 {
		t.Fatalf("after the open period: %v, %v", resp, err)
	}
	if strings.Join(o.states, ",") != "open,half-open,closed" {
		t.Errorf("breaker states %v", o.states)
	}
}

// TestBodyCap: a body past the cap is an error, never a silent cut.
func TestBodyCap(t *testing.T) {
	b := newBackend(t)
	c := newClient(&observer{}, httpx.Config{MaxBody: 10})
	_, err := c.Do(t.Context(), &httpx.Request{Method: http.MethodGet, URL: b.srv.URL, Idempotent: true})
	var tooLarge *httpx.BodyTooLargeError
	if !errors.As(err, &tooLarge) || b.hits.Load() != 1 {
		t.Errorf("Do() = %v after %d attempts, want one BodyTooLargeError", err, b.hits.Load())
	}
}

// TestWindowLimiter: requests never number more than n in any span of the
// window, and keep to that rate. A fake clock that sleeping advances makes
// the schedule exact; the drivers' own tests check real time against the
// simulators.
func TestWindowLimiter(t *testing.T) {
	const n, window = 5, 100 * time.Millisecond
	clock := time.Now() // real-time based, so that a context deadline on it is in the future
	now := func() time.Time { return clock }
	sleep := func(ctx context.Context, d time.Duration) error { clock = clock.Add(d); return ctx.Err() }
	l := httpx.NewWindowLimiter(n, window, 0, now, sleep)
	var at []time.Time
	for i := range 40 {
		if i%7 == 3 {
			clock = clock.Add(30 * time.Millisecond) // a caller that came late
		}
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		at = append(at, clock)
	}
	for i := n; i < len(at); i++ {
		if d := at[i].Sub(at[i-n]); d < window {
			t.Fatalf("requests %d and %d only %v apart: %d in one window", i-n, i, d, n+1)
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span > 8*window+200*time.Millisecond {
		t.Errorf("40 requests took %v; at %d per %v they need about %v", span, n, window, 7*window)
	}
	ctx, cancel := context.WithDeadline(t.Context(), clock.Add(10*time.Millisecond))
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a place past the deadline: %v, want deadline exceeded at once", err)
	}
}

// TestWindowLimiterMemory: a limit far above the request rate costs memory
// for the requests made within a window, not for the limit: a limit of a
// million a second once allocated 24 MB up front.
func TestWindowLimiterMemory(t *testing.T) {
	clock := time.Now()
	now := func() time.Time { return clock }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := httpx.NewWindowLimiter(1_000_000, time.Second, 0, now, nil)
	for range 5000 {
		clock = clock.Add(10 * time.Millisecond) // 100 a second, for 50 seconds
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("5,000 requests at 100/s allocated %d KB", grew>>10)
	}
	runtime.KeepAlive(l)
}

// TestWindowLimiterCountsUntilAnswered: a request admitted but answered
// late (a starved process or vendor) moves the place of the n-th request
// after it by as much, so the vendor never sees n+1 in a window.
func TestWindowLimiterCountsUntilAnswered(t *testing.T) {
	const window = 100 * time.Millisecond
	start := time.Now()
	clock := start
	now := func() time.Time { return clock }
	sleep := func(ctx context.Context, d time.Duration) error { clock = clock.Add(d); return ctx.Err() }
	l := httpx.NewWindowLimiter(2, window, 0, now, sleep)
	late, err := l.Admit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(50 * time.Millisecond)
	late() // answered 50 ms after it was admitted
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := clock.Sub(start); got != 150*time.Millisecond {
		t.Errorf("the third request left at +%v, want +150ms: a window after the first was answered", got)
	}
}

// TestCommonDefaults: WithDefaults fills only what is unset, and leaves the
// HTTP client to the driver, whose default differs by vendor.
func TestCommonDefaults(t *testing.T) {
	got := httpx.Common{}.WithDefaults("acme")
	if got.Instance != "acme" || got.Logger == nil || got.Now == nil || got.Sleep == nil || got.HTTPClient != nil {
		t.Errorf("defaults of an empty Common: %+v", got)
	}
	now := func() time.Time { return time.Unix(7, 0) }
	set := httpx.Common{Instance: "eu-1", Now: now, Sleep: noSleep}.WithDefaults("acme")
	if set.Instance != "eu-1" || set.Now() != time.Unix(7, 0) || set.Sleep(context.Background(), time.Hour) != nil {
		t.Errorf("WithDefaults replaced what was set: %+v", set)
	}
}
