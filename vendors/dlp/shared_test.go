package dlp_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// counting is a Limiter and a Semaphore that count their use.
type counting struct{ waits, acquires, released atomic.Int32 }

func (c *counting) Wait(ctx context.Context) error { c.waits.Add(1); return ctx.Err() }
func (c *counting) Acquire(ctx context.Context) (func(), error) {
	c.acquires.Add(1)
	return func() { c.released.Add(1) }, ctx.Err()
}

// TestSharedLimits: a configured Limiter and Semaphore replace the local
// ones and see every request, the token exchange included.
func TestSharedLimits(t *testing.T) {
	sim := dlpsim.New(dlpsim.Config{Seed: 1, Incidents: 10, Now: simNow, RateLimit: noLimit})
	shared := &counting{}
	// A local schedule of one request an hour would fail the second
	// request at once: the shared limiter must be the one in use.
	d := newDriver(t, sim, dlp.Config{RateLimit: 1, RateWindow: 1 << 62, Limiter: shared, Semaphore: shared})
	plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
	for range 3 {
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
	}
	n := int32(sim.Stats().Requests)
	if shared.waits.Load() != n || shared.acquires.Load() != n || shared.released.Load() != n {
		t.Errorf("%d requests; shared limiter waited %d times, semaphore acquired %d and released %d",
			n, shared.waits.Load(), shared.acquires.Load(), shared.released.Load())
	}
}

// admitting is a shared Limiter that, like the replicas' one, counts each
// request until its answer: it records which admissions were answered.
type admitting struct {
	counting
	admits, answered atomic.Int32
}

func (a *admitting) Admit(ctx context.Context) (func(), error) {
	a.admits.Add(1)
	return func() { a.answered.Add(1) }, ctx.Err()
}

// TestSharedLimitLearnsOfAnswers: a shared limit that counts requests until
// their answer is told of each answer, the token exchange included, and
// is never asked through Wait (which would count from admission).
func TestSharedLimitLearnsOfAnswers(t *testing.T) {
	sim := dlpsim.New(dlpsim.Config{Seed: 1, Incidents: 10, Now: simNow, RateLimit: noLimit})
	shared := &admitting{}
	d := newDriver(t, sim, dlp.Config{RateLimit: 1, RateWindow: 1 << 62, Limiter: shared, Semaphore: shared})
	plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
	for range 3 {
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
	}
	n := int32(sim.Stats().Requests)
	if shared.admits.Load() != n || shared.answered.Load() != n || shared.waits.Load() != 0 {
		t.Errorf("%d requests; admitted %d, answered %d, asked through Wait %d", n, shared.admits.Load(), shared.answered.Load(), shared.waits.Load())
	}
}
