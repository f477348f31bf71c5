package dlp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// fastClock is the real clock with every sleep skipped: the driver's waits
// for the rate limit take no real time, yet its schedule sees them pass.
type fastClock struct {
	mu      sync.Mutex
	start   time.Time
	skipped time.Duration
}

func (c *fastClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start.Add(time.Since(c.start) + c.skipped)
}

func (c *fastClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped += max(d, 0)
	return ctx.Err()
}

// BenchmarkLongScanRate pages through a tenant again and again with the
// vendor's real limits (60 requests per minute, 5 at once) and reports the
// request rate the driver's schedule achieves, token exchanges included.
// The limits would make a real-time run last minutes, so the driver runs on
// a clock whose sleeps are skipped: the figure is requests per minute of the
// driver's own time. The simulator, which keeps real time, is told not to
// limit; TestRateLimits proves the schedule against its limits.
func BenchmarkLongScanRate(b *testing.B) {
	sim := dlpsim.New(dlpsim.Config{Seed: 11, Incidents: 2000, Now: simNow, RateLimit: noLimit})
	clock := &fastClock{start: time.Now()}
	d := newDriver(b, sim, dlp.Config{Common: descriptor.Common{Now: clock.Now, Sleep: clock.Sleep}})
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: dlp.MaxPageSize})
	if err != nil {
		b.Fatal(err)
	}
	start := clock.Now()
	pos := ""
	for b.Loop() {
		page, err := d.List(b.Context(), plan, pos)
		if err != nil {
			b.Fatal(err)
		}
		pos = page.Next // "" starts the scan over
	}
	minutes := clock.Now().Sub(start).Minutes()
	st := sim.Stats()
	// The first request leaves at once and each later one a slot after the
	// one before: the rate is the requests after the first over the time
	// they took (counting the first too would overstate short runs).
	rate := float64(st.Requests-1) / minutes
	b.ReportMetric(rate, "req/min")
	b.ReportMetric(100*rate/dlp.DefaultRateLimit, "%limit")
	b.ReportMetric(float64(st.ByPath[dlp.DefaultPathPrefix+"/incidents/list"])/minutes, "pages/min")
	b.ReportMetric(minutes, "driver-min")
}
