package evals

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/schema"
)

// writes is how many updates land during the feed's reads.
const writes = 1000

// TestFeedUnderConcurrentWrites: 1,000 updates land at the ESET, DLP and
// Kaspersky simulators, from 16 writers at once, while a follower reads
// the feed with small pages and follows its watermarks. Many updates share
// an updated_at (DLP stamps seconds; ESET milliseconds under a burst) and
// many hit the same incident again. Afterwards every incident's final
// change must have been returned (0 missed) and no change twice (0
// repeated).
func TestFeedUnderConcurrentWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the feed's settle time")
	}
	env, err := demotest.Start(demotest.Options{Incidents: 300, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("f", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	drivers := map[string]*incidents.Instance{}
	for _, in := range env.Instances {
		drivers[in.Name] = in
	}
	ctx := t.Context()
	start := time.Now().UTC().Add(-2 * time.Second).Truncate(time.Second)

	// The targets: every ESET and DLP incident can take repeated writes;
	// each open Kaspersky incident one close.
	type target struct{ instance, id string }
	var esetDLP, kasp []target
	for _, name := range []string{"eset", "dlp", "kaspersky"} {
		all, err := listAll(ctx, svc, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range all {
			_, native, _ := schema.SplitID(inc.ID)
			switch {
			case name != "kaspersky":
				esetDLP = append(esetDLP, target{name, native})
			case inc.Status == schema.StatusOpen:
				kasp = append(kasp, target{name, native})
			}
		}
	}
	kasp = kasp[:min(len(kasp), 100)]
	var plan []target
	plan = append(plan, kasp...)
	for i := 0; len(plan) < writes; i++ {
		// Every incident is written about twice, seconds apart.
		plan = append(plan, esetDLP[(i*7)%len(esetDLP)])
	}

	var (
		emitted  = map[string][]time.Time{} // id -> updated_at of each time it was returned
		repeated int
		batches  int
		equalTS  int
		failures atomic.Int64
		stop     = make(chan struct{})
		follower sync.WaitGroup
		mu       sync.Mutex
	)
	follow := func(wm string) (string, bool) {
		res, err := svc.Feed(ctx, incidents.FeedRequest{Since: wm, PageSize: 40})
		if err != nil {
			t.Errorf("feed: %v", err)
			return wm, false
		}
		mu.Lock()
		defer mu.Unlock()
		batches++
		for i, inc := range res.Incidents {
			if i > 0 && inc.UpdatedAt.Before(res.Incidents[i-1].UpdatedAt) {
				t.Errorf("batch %d not in update order at %d", batches, i)
			}
			if i > 0 && inc.UpdatedAt.Equal(res.Incidents[i-1].UpdatedAt) {
				equalTS++
			}
			for _, prev := range emitted[inc.ID] {
				if prev.Equal(inc.UpdatedAt) {
					repeated++
				}
			}
			emitted[inc.ID] = append(emitted[inc.ID], inc.UpdatedAt)
		}
		return res.Watermark, res.HasMore
	}
	wm := start.Format(time.RFC3339)
	follower.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			wm, _ = follow(wm)
		}
	})

	var writers sync.WaitGroup
	work := make(chan target)
	for range 16 {
		writers.Go(func() {
			for tg := range work {
				in := drivers[tg.instance]
				var p schema.Patch
				switch tg.instance {
				case "eset":
					d := fmt.Sprintf("feed test write %d", time.Now().UnixNano())
					p.Description = &d
				case "dlp":
					a := fmt.Sprintf("analyst%d@company.com", time.Now().UnixNano()%7)
					p.Assignee = &a
				case "kaspersky":
					st, r := schema.StatusClosed, schema.ResolutionFalsePositive
					p.Status, p.Resolution = &st, &r
				}
				if _, err := in.Driver.Update(ctx, tg.id, p); err != nil {
					failures.Add(1)
					t.Errorf("write %s:%s: %v", tg.instance, tg.id, err)
				}
				// Spread the writes over several seconds, so that most land
				// while the follower reads and after earlier ones settled.
				time.Sleep(time.Duration(80+time.Now().UnixNano()%40) * time.Millisecond)
			}
		})
	}
	for _, tg := range plan {
		work <- tg
	}
	close(work)
	writers.Wait()
	close(stop)
	follower.Wait()
	// Let the last writes settle, then read until nothing is waiting.
	time.Sleep(incidents.FeedSettle + 500*time.Millisecond)
	for more := true; more; {
		wm, more = follow(wm)
	}

	// The truth, from the simulators' own records.
	final := map[string]time.Time{}
	for _, in := range env.ESET.Incidents() {
		final["eset:"+in.UUID] = in.UpdateTime
	}
	for _, in := range env.DLP.Incidents() {
		u, _ := time.Parse(time.RFC3339, in.UpdatedAt)
		final["dlp:"+in.ID] = u
	}
	for _, in := range env.Kaspersky.Incidents() {
		final["kaspersky:"+in.InternalID] = in.UpdatedAt
	}
	missed, changed := 0, 0
	for id, t0 := range final {
		if t0.Before(start) {
			continue
		}
		changed++
		got := emitted[id]
		if len(got) == 0 || !got[len(got)-1].Equal(t0) {
			missed++
			if missed <= 5 {
				t.Errorf("missed %s: its last change at %s; returned %v", id, t0.Format(time.RFC3339Nano), got)
			}
		}
	}
	t.Logf("change feed: %d writes (%d failed) over %d incidents changed; %d feed batches, %d changes returned; equal timestamps side by side %d; missed %d, repeated %d",
		len(plan), failures.Load(), changed, batches, count(emitted), equalTS, missed, repeated)
	fmt.Printf("change feed: %d concurrent writes; missed %d, repeated %d\n", len(plan), missed, repeated)
	if missed != 0 || repeated != 0 {
		t.Errorf("missed %d, repeated %d; want 0 and 0", missed, repeated)
	}
	if equalTS == 0 {
		t.Error("no two changes with one updated_at were returned side by side: the test did not exercise ties")
	}
}

func count(m map[string][]time.Time) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func listAll(ctx context.Context, svc *incidents.Service, name string) ([]schema.Incident, error) {
	var out []schema.Incident
	r := incidents.QueryRequest{Instances: []string{name}, PageSize: 100}
	for {
		res, err := svc.Query(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Incidents...)
		if !res.HasMore {
			return out, nil
		}
		r.Cursor = res.NextCursor
	}
}
