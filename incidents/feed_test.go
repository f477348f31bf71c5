package incidents_test

import (
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// follow reads the feed from since until nothing is waiting, checking the
// update order, and returns what it got and the last watermark.
func follow(t *testing.T, f *fixture, since string, pageSize int) ([]schema.Incident, string) {
	t.Helper()
	var got []schema.Incident
	for range 1000 {
		res, err := f.svc.Feed(t.Context(), incidents.FeedRequest{Since: since, PageSize: pageSize})
		if err != nil {
			t.Fatal(err)
		}
		for i, inc := range res.Incidents {
			if i > 0 && inc.UpdatedAt.Before(res.Incidents[i-1].UpdatedAt) {
				t.Fatalf("not in update order: %s then %s", res.Incidents[i-1].UpdatedAt, inc.UpdatedAt)
			}
		}
		got = append(got, res.Incidents...)
		since = res.Watermark
		if !res.HasMore {
			return got, since
		}
	}
	t.Fatal("the feed never ran dry")
	return nil, ""
}

func onceEach(t *testing.T, got []schema.Incident) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, inc := range got {
		n[inc.ID+"@"+inc.UpdatedAt.String()]++
		if n[inc.ID+"@"+inc.UpdatedAt.String()] == 2 {
			t.Errorf("%s at %s returned twice", inc.ID, inc.UpdatedAt)
		}
	}
	return n
}

// TestFeedTiesAcrossPages: changes sharing one updated_at, more of them
// than a page holds, across two instances, are each returned once.
func TestFeedTiesAcrossPages(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 60)
	tie := now.Add(-time.Hour)
	for _, name := range []string{"a", "b"} {
		for _, inc := range f.drivers[name].Incidents()[:10] {
			if err := f.drivers[name].Stamp(inc.ID, tie); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, wm := follow(t, f, "100d", 7)
	onceEach(t, got)
	if len(got) != 120 {
		t.Errorf("%d changes returned, want all 120 incidents once", len(got))
	}
	if again, _ := follow(t, f, wm, 7); len(again) != 0 {
		t.Errorf("nothing changed, yet %d returned again", len(again))
	}
}

// TestFeedLateAndUnsettled: a change that becomes visible late with a time
// before the watermark's position (within the overlap) is returned once;
// a change newer than the settle time waits for a later call.
func TestFeedLateAndUnsettled(t *testing.T) {
	f := newFixture(t, []string{"a"}, 30)
	d := f.drivers["a"]
	ids := d.Incidents()
	if err := d.Stamp(ids[0].ID, now.Add(-10*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, wm := follow(t, f, "100d", 50)

	// Late: stamped a second before the position, visible only now.
	if err := d.Stamp(ids[1].ID, now.Add(-11*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, wm := follow(t, f, wm, 50)
	if len(got) != 1 || got[0].ID != "a:"+ids[1].ID {
		t.Fatalf("after a late change: %v, want %s once", idsOf(got), ids[1].ID)
	}
	if got, _ := follow(t, f, wm, 50); len(got) != 0 {
		t.Errorf("the late change came again: %v", idsOf(got))
	}

	// Unsettled: a second old, under FeedSettle.
	if err := d.Stamp(ids[2].ID, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	got, wm = follow(t, f, wm, 50)
	if len(got) != 0 {
		t.Fatalf("a change younger than the settle time was returned: %v", idsOf(got))
	}
	f.clock.Add(incidents.FeedSettle)
	if got, _ = follow(t, f, wm, 50); len(got) != 1 || got[0].ID != "a:"+ids[2].ID {
		t.Errorf("after the settle time: %v, want %s", idsOf(got), ids[2].ID)
	}
}

// TestFeedArguments: a watermark is bound to its instances; a start must
// be a watermark or a time.
func TestFeedArguments(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 5)
	res, err := f.svc.Feed(t.Context(), incidents.FeedRequest{Since: "1h", Instances: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, since string }{{"other instances", res.Watermark}, {"not a time", "yesterday-ish"}, {"empty", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Feed(t.Context(), incidents.FeedRequest{Since: tc.since})
			if se, ok := err.(*schema.Error); !ok || se.Arg != "changed_since" {
				t.Errorf("err = %v, want an argument error on changed_since", err)
			}
		})
	}
}

func idsOf(incs []schema.Incident) string {
	var s []string
	for _, inc := range incs {
		s = append(s, inc.ID)
	}
	return strings.Join(s, ",")
}
