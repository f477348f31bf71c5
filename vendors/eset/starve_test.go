package eset_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// TestRateLimitUnderStarvation: on one processor shared with a goroutine
// that never blocks, so that every wake-up and every request is late by a
// different amount, the simulator still never counts more than 10 requests
// in any rolling second, and never answers 429. The limiter counts each
// request until its answer came, not only from when it was admitted.
func TestRateLimitUnderStarvation(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 4 s of real time")
	}
	if raceEnabled {
		t.Skip("the race detector delays requests by more than the limiter's 40 ms margin")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for range 2 {
		busy.Go(func() {
			n := 0
			for {
				select {
				case <-stop:
					return
				default:
					n++ // spin: only preemption takes the processor away
				}
			}
		})
	}
	defer func() { close(stop); busy.Wait() }()

	sim := esetsim.New(esetsim.Config{Seed: 2, Incidents: 50, Now: simNow})
	d := simDriver(t, sim)
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 7 {
				if _, err := d.List(t.Context(), plan, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	t.Logf("starved (GOMAXPROCS=1, 2 spinning goroutines): %d requests, peak %d in a rolling second at the simulator, %d answered 429", st.Requests, st.MaxInSecond, st.TooMany)
	if st.MaxInSecond > 10 || st.TooMany != 0 {
		t.Errorf("%d requests in one second and %d 429s; the limit is 10 per second", st.MaxInSecond, st.TooMany)
	}
}
