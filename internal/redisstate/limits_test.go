package redisstate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
)

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

// grants runs workers goroutines per limiter for d and returns every grant's
// time.
func grants(t *testing.T, lims []*redisstate.Limiter, workers int, d time.Duration) []time.Time {
	t.Helper()
	ctx, cancel := contextWithTimeout(t, d)
	defer cancel()
	var (
		mu  sync.Mutex
		out []time.Time
		wg  sync.WaitGroup
	)
	for _, l := range lims {
		for range workers {
			wg.Go(func() {
				for l.Wait(ctx) == nil {
					mu.Lock()
					out = append(out, time.Now())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return out
}

// maxInWindow is the most grants in any window of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	sorted := append([]time.Time(nil), ts...)
	sortTimes(sorted)
	best, j := 0, 0
	for i := range sorted {
		for sorted[i].Sub(sorted[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for k := i; k > 0 && ts[k].Before(ts[k-1]); k-- {
			ts[k], ts[k-1] = ts[k-1], ts[k]
		}
	}
}

func TestLimiterSharesOneRateAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{})
	r := redisstate.Rate{Limit: 10, Per: time.Second}
	var lims []*redisstate.Limiter
	for _, s := range stores {
		lims = append(lims, s.Limiter("eset", r))
	}
	const run = 3 * time.Second
	ts := grants(t, lims, 4, run)
	if m := maxInWindow(ts, time.Second); m > 10 {
		t.Errorf("%d grants in one second across 3 replicas, limit 10", m)
	}
	for _, l := range lims {
		if st := l.Stats(); st.Local != 0 || st.Fallback {
			t.Errorf("local grants with Redis up: %+v", st)
		}
	}
	sent := float64(len(ts)) / run.Seconds()
	t.Logf("3 replicas x 4 workers: %d grants in %s = %.2f/s (limit 10/s)", len(ts), run, sent)
	if sent < 9 {
		t.Errorf("only %.2f grants/s, want >= 90%% of 10/s", sent)
	}
}

// interval is one request as the vendor may count it: any time from when
// the limiter let it go until its answer came.
type interval struct{ sent, answered time.Time }

// mostCounted is the most requests a vendor can count in one window of
// length w when it counts each at the worst moment of its interval: the
// most intervals that meet one window. The maximum is reached with a
// window that ends where some request was sent.
func mostCounted(reqs []interval, w time.Duration) int {
	best := 0
	for _, r := range reqs {
		from, to := r.sent.Add(-w), r.sent
		n := 0
		for _, o := range reqs {
			if !o.sent.After(to) && !o.answered.Before(from) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// A slow vendor counts a request whenever it reads it: the limiter must
// count every request until its answer, or the vendor sees more than the
// limit in a window although the grants are spaced right. Three replicas,
// four workers each, answers taking up to 300ms (far beyond any margin).
func TestLimiterCountsEachRequestUntilItsAnswer(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{})
	r := redisstate.Rate{Limit: 10, Per: time.Second}
	ctx, cancel := contextWithTimeout(t, 3*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		reqs []interval
		wg   sync.WaitGroup
	)
	for i, s := range stores {
		l := s.Limiter("eset", r)
		for w := range 4 {
			wg.Go(func() {
				for k := 0; ; k++ {
					done, err := l.Admit(ctx)
					if err != nil {
						return
					}
					sent := time.Now()
					// Latencies from 0 to 300ms, different per worker.
					time.Sleep(time.Duration((i*4+w+k)%7) * 50 * time.Millisecond)
					answered := time.Now()
					done()
					mu.Lock()
					reqs = append(reqs, interval{sent, answered})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if m := mostCounted(reqs, time.Second); m > 10 {
		t.Errorf("a vendor counting each request between its sending and its answer can count %d in one second, limit 10", m)
	}
	rate := float64(len(reqs)) / 3
	t.Logf("%d requests in 3s with answers up to 300ms: %.2f/s (limit 10/s)", len(reqs), rate)
	if rate < 6 {
		t.Errorf("only %.2f requests/s: slow answers should cost one answer's latency per window, not stop reads", rate)
	}
}

// A replica killed between admission and answer never reports the answer:
// its request keeps counting until its hold ends, then frees its place.
func TestLimiterFreesAVanishedReplicasPlaceAfterItsHold(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 2, redisstate.Options{})
	r := redisstate.Rate{Limit: 2, Per: 200 * time.Millisecond, Hold: 500 * time.Millisecond}
	gone, alive := stores[0].Limiter("dlp", r), stores[1].Limiter("dlp", r)
	for range 2 {
		if _, err := gone.Admit(t.Context()); err != nil { // never answered
			t.Fatal(err)
		}
	}
	start := time.Now()
	done, err := alive.Admit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done()
	waited := time.Since(start)
	if waited < 400*time.Millisecond {
		t.Errorf("admitted after %s while two unanswered requests held both places (hold 500ms)", waited)
	}
	if waited > 2*time.Second {
		t.Errorf("waited %s: a vanished replica's places should free after their hold", waited)
	}
	t.Logf("admitted %s after a vanished replica took both places (hold 500ms, window 200ms)", waited.Round(time.Millisecond))
}

func TestLimiterFallsBackToItsShareAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 2, redisstate.Options{ProbeInterval: 100 * time.Millisecond})
	r := redisstate.Rate{Limit: 20, Per: time.Second}
	lims := []*redisstate.Limiter{stores[0].Limiter("eset", r), stores[1].Limiter("eset", r)}
	grants(t, lims, 2, 500*time.Millisecond)

	srv.Stop()
	const run = 3 * time.Second
	ts := grants(t, lims, 3, run)
	// Each of 2 replicas allows itself half of 20/s: 20/s together at most.
	if m := maxInWindow(ts, time.Second); m > 20 {
		t.Errorf("%d grants in one second during the outage, limit 20", m)
	}
	// The shared grants before the outage count for the first window; the
	// three seconds then hold two whole windows of both shares (10 each).
	t.Logf("Redis down: %d grants in %s across 2 replicas (each on its share of 10 per window)", len(ts), run)
	if len(ts) < 40 {
		t.Errorf("reads nearly stopped during the outage: %d grants in %s, want two windows of both shares (40)", len(ts), run)
	}
	for i, s := range stores {
		if st := s.Stats()["rate:eset"]; !st.Fallback || st.Outages != 1 || st.Local == 0 {
			t.Errorf("replica %d during the outage: %+v, want fallback with local grants", i, st)
		}
	}

	srv.Restart()
	ts = grants(t, lims, 3, 2*time.Second)
	if m := maxInWindow(ts, time.Second); m > 20 {
		t.Errorf("%d grants in one second around recovery, limit 20", m)
	}
	for i, l := range lims {
		st := l.Stats()
		if st.Fallback {
			t.Errorf("replica %d still on its fallback after Redis returned: %+v", i, st)
		}
	}
}

func TestLimiterRefusesASlotBeyondTheDeadline(t *testing.T) {
	srv := redistest.Start(t)
	l := replicas(t, srv, 1, redisstate.Options{})[0].Limiter("dlp", redisstate.Rate{Limit: 2, Per: time.Minute, Spacing: -1})
	for range 2 {
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := contextWithTimeout(t, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx)
	if err == nil {
		t.Fatal("a place about a minute away was granted within 100ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("refusal %v does not say the deadline is the cause", err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("refusing took %s; it should not wait for a place it cannot reach", time.Since(start))
	}
}

func TestSemaphoreBoundsInFlightAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{ProbeInterval: 100 * time.Millisecond, SemaphoreLease: 600 * time.Millisecond})
	var sems []*redisstate.Semaphore
	for _, s := range stores {
		sems = append(sems, s.Semaphore("dlp", 5))
	}
	var (
		mu             sync.Mutex
		inFlight, peak int
	)
	hold := func(sem *redisstate.Semaphore, d time.Duration) {
		release, err := sem.Acquire(t.Context())
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(d)
		mu.Lock()
		inFlight--
		mu.Unlock()
		release()
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() { hold(sems[i%3], 20*time.Millisecond) })
	}
	wg.Wait()
	if peak != 5 {
		t.Fatalf("peak in flight %d across 3 replicas, want exactly the 5 slots used", peak)
	}

	// A slot held longer than its lease stays held: the holder renews it.
	peak = 0
	wg.Go(func() { hold(sems[0], time.Second) })
	time.Sleep(50 * time.Millisecond)
	for i := range 10 {
		wg.Go(func() { hold(sems[i%3], 300*time.Millisecond) })
	}
	wg.Wait()
	if peak > 5 {
		t.Fatalf("peak in flight %d with a long holder, want <= 5", peak)
	}

	// A crashed holder (never releases, never renews) frees its slot when
	// its lease ends: simulated by a store closed while holding.
	crashed, err := redisstate.Open(srv.URL(), redisstate.Options{SemaphoreLease: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	csem := crashed.Semaphore("dlp", 5)
	for range 5 {
		if _, err := csem.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	crashed.Close()
	start := time.Now()
	release, err := sems[1].Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	release()
	if waited := time.Since(start); waited < 300*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("a slot of a crashed holder came free after %s, want about its 600ms lease", waited)
	}

	// Redis away: each replica allows itself 5/3 -> 1 slot; back on Redis after.
	srv.Stop()
	peak = 0
	for i := range 9 {
		wg.Go(func() { hold(sems[i%3], 20*time.Millisecond) })
	}
	wg.Wait()
	if peak > 3 {
		t.Fatalf("peak in flight %d across 3 replicas on their fallback, want <= 3", peak)
	}
	for i, s := range sems {
		if st := s.Stats(); !st.Fallback || st.Local == 0 {
			t.Errorf("replica %d: %+v, want fallback", i, st)
		}
	}
	srv.Restart()
	time.Sleep(150 * time.Millisecond)
	for i := range 6 {
		wg.Go(func() { hold(sems[i%3], 20*time.Millisecond) })
	}
	wg.Wait()
	for i, s := range sems {
		if st := s.Stats(); st.Fallback {
			t.Errorf("replica %d still on its fallback after Redis returned: %+v", i, st)
		}
	}
}

// A limit is spread over its window, not spent in one burst: DLP's 60 a
// minute leave a second apart across replicas, as the drivers' local
// pacing sends them (a burst would meet DLP's 5 in flight).
func TestLimiterSpreadsItsLimit(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 3, redisstate.Options{})
	r := redisstate.Rate{Limit: 60, Per: 6 * time.Second} // DLP's shape, ten times faster
	var lims []*redisstate.Limiter
	for _, s := range stores {
		lims = append(lims, s.Limiter("dlp", r))
	}
	ts := grants(t, lims, 4, 2*time.Second)
	sortTimes(ts)
	closest := time.Hour
	for i := 1; i < len(ts); i++ {
		closest = min(closest, ts[i].Sub(ts[i-1]))
	}
	t.Logf("%d grants in 2s over 3 replicas x 4 workers, closest two %s apart (spacing about 104ms)", len(ts), closest)
	if len(ts) > 21 || closest < 80*time.Millisecond {
		t.Errorf("%d grants in 2s, closest %s apart: a limit of 60 per 6s should leave about one each 100ms", len(ts), closest)
	}
}
