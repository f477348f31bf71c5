package redisstate_test

import (
	"context"
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

// rateOf is the rate of the grants between the first and the last: a grant
// reserved before the run's end but woken after it is not lost to the count.
func rateOf(ts []time.Time) float64 {
	sorted := append([]time.Time(nil), ts...)
	sortTimes(sorted)
	if len(sorted) < 2 {
		return 0
	}
	return float64(len(sorted)-1) / sorted[len(sorted)-1].Sub(sorted[0]).Seconds()
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
	var late uint64
	for _, l := range lims {
		st := l.Stats()
		if st.Local != 0 || st.Fallback {
			t.Errorf("local grants with Redis up: %+v", st)
		}
		late += st.Late
	}
	// A waiter that wakes too late for its slot gives it up rather than
	// crowd the next requests (an overloaded host); the schedule offered it.
	sent := rateOf(ts)
	offered := sent + float64(late)/run.Seconds()
	t.Logf("3 replicas x 4 workers: %d grants in %s = %.2f/s sent, %d slots given up by late waiters, %.2f/s offered (limit 10/s)", len(ts), run, sent, late, offered)
	if offered < 9 {
		t.Errorf("only %.2f grants/s offered, want >= 90%% of 10/s", offered)
	}
}

func TestLimiterFallsBackToItsShareAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	stores := replicas(t, srv, 2, redisstate.Options{ProbeInterval: 100 * time.Millisecond})
	r := redisstate.Rate{Limit: 20, Per: time.Second}
	lims := []*redisstate.Limiter{stores[0].Limiter("eset", r), stores[1].Limiter("eset", r)}
	grants(t, lims, 2, 500*time.Millisecond)

	srv.Stop()
	const run = 2 * time.Second
	ts := grants(t, lims, 3, run)
	// Each of 2 replicas allows itself half of 20/s: 20/s together at most.
	if m := maxInWindow(ts, time.Second); m > 20 {
		t.Errorf("%d grants in one second during the outage, limit 20", m)
	}
	perSecond := rateOf(ts)
	t.Logf("Redis down: %.2f grants/s across 2 replicas (each on its 1/2 share)", perSecond)
	if perSecond < 14 {
		t.Errorf("reads nearly stopped during the outage: %.2f grants/s", perSecond)
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
	l := replicas(t, srv, 1, redisstate.Options{})[0].Limiter("dlp", redisstate.Rate{Limit: 60, Per: time.Minute})
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithTimeout(t, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.Wait(ctx); err == nil {
		t.Fatal("a slot about a second away was granted within 100ms")
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Errorf("refusing took %s; it should not wait for a slot it cannot reach", time.Since(start))
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
