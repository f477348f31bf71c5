package replicas_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// longTests gates the tests that run for minutes: make test-replicas sets it.
func longTests(t testing.TB) {
	if os.Getenv("INCIDENT_MCP_LONG_TESTS") == "" {
		t.Skip("runs for minutes: make test-replicas (INCIDENT_MCP_LONG_TESTS=1)")
	}
}

// scan pages through one instance with a filter the vendor cannot narrow,
// over and over, until stop; every call goes to the next replica.
func scan(c *cluster, instance string, stop <-chan struct{}, errs *[]string, mu *sync.Mutex) {
	args := map[string]any{"instance": instance, "page_size": 10, "where": `incident.title.size() > 0`}
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := c.call("list_incidents", args)
		if r.isError {
			mu.Lock()
			*errs = append(*errs, r.text)
			mu.Unlock()
			delete(args, "cursor")
			continue
		}
		if next, _ := r.sc["next_cursor"].(string); next != "" {
			args["cursor"] = next
		} else {
			delete(args, "cursor")
		}
	}
}

// TestVendorLimitsAcrossReplicas: long ESET and DLP scans spread over three
// replicas never exceed 10/s at ESET nor 60/min and 5 in flight at DLP
// (counting attempts), and each reaches at least 90 % of its limit.
func TestVendorLimitsAcrossReplicas(t *testing.T) {
	longTests(t)
	run := 150 * time.Second
	if s := os.Getenv("INCIDENT_MCP_REPLICA_RUN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		run = d
	}
	// DLP answers after 5s, so five slots are about as many as one request
	// per second needs: the shared semaphore is what keeps a sixth away.
	c := startCluster(t, 3, "-dlp-latency", "5s")
	c.resetStats()
	stop := make(chan struct{})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for range 6 {
		wg.Go(func() { scan(c, "eset", stop, &errs, &mu) })
	}
	for range 7 {
		wg.Go(func() { scan(c, "dlp", stop, &errs, &mu) })
	}
	// The rates are the steady state's, after the replicas signed in and
	// the queues filled; the limits hold over the whole run.
	const warmUp = 20 * time.Second
	time.Sleep(warmUp)
	early := c.stats()
	time.Sleep(run - warmUp)
	st := c.stats()
	close(stop)
	wg.Wait()

	e, d := st["eset"], st["dlp"]
	eRate := float64(e.Attempts-early["eset"].Attempts) / (e.Seconds - early["eset"].Seconds)
	dRate := float64(d.Attempts-early["dlp"].Attempts) / (d.Seconds - early["dlp"].Seconds) * 60
	t.Logf("ESET: %d attempts in %.0fs, %.2f/s after the first %s, at most %d in any second, %d 429s", e.Attempts, e.Seconds, eRate, warmUp, e.MaxInAnySecond, e.TooManySent)
	t.Logf("DLP: %d attempts, %.1f/min after the first %s, at most %d in any minute, peak %d in flight (%v), %d 429s", d.Attempts, dRate, warmUp, d.MaxInAnyMinute, d.PeakConcurrency, d.PeakConcurrencyByRoute, d.TooManySent)
	if len(errs) > 0 {
		t.Logf("%d calls failed, e.g. %q", len(errs), errs[0])
	}
	if e.MaxInAnySecond > 10 || e.TooManySent > 0 {
		t.Errorf("ESET saw %d requests in one second and sent %d 429s; limit 10/s", e.MaxInAnySecond, e.TooManySent)
	}
	if eRate < 9 {
		t.Errorf("ESET scan reached %.2f/s, want >= 90%% of 10/s", eRate)
	}
	if d.MaxInAnyMinute > 60 || d.PeakConcurrencyByRoute["list"] > 5 || d.TooManySent > 0 {
		t.Errorf("DLP saw %d requests in a minute, %d in flight, and sent %d 429s; limits 60/min and 5", d.MaxInAnyMinute, d.PeakConcurrencyByRoute["list"], d.TooManySent)
	}
	if run >= 2*time.Minute && dRate < 54 {
		t.Errorf("DLP scan reached %.1f/min, want >= 90%% of 60/min", dRate)
	}
}

// BenchmarkReplicas prints, for 1, 2 and 3 replicas sharing one Redis, the
// calls per second a client spreading get_incident over them gets, and the
// request rate ESET (limit 10/s) observed: more replicas, same vendor rate.
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			c := startCluster(b, n, "-incidents", "100")
			r := c.call("list_incidents", map[string]any{"instance": "eset", "page_size": 1})
			incs, _ := r.sc["incidents"].([]any)
			if len(incs) == 0 {
				b.Fatalf("list: %s", r.text)
			}
			id := incs[0].(map[string]any)["id"]
			c.resetStats()
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				left   = b.N
				failed int
			)
			b.ResetTimer()
			start := time.Now()
			for range 8 {
				wg.Go(func() {
					for {
						mu.Lock()
						if left == 0 {
							mu.Unlock()
							return
						}
						left--
						mu.Unlock()
						if r := c.call("get_incident", map[string]any{"id": id}); r.isError {
							mu.Lock()
							failed++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			e := c.stats()["eset"]
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(e.Attempts)/elapsed.Seconds(), "eset-req/s")
			b.ReportMetric(float64(e.MaxInAnySecond), "eset-max-in-1s")
			b.ReportMetric(float64(e.TooManySent), "eset-429s")
			if failed > 0 {
				b.Errorf("%d of %d calls failed", failed, b.N)
			}
		})
	}
}
