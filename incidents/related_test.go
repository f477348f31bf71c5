package incidents_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// TestRelated: related_to returns, across instances, exactly the incidents
// created within the window that share a host name or a user with the
// incident (device ids meet only within one instance's vendor, here the
// same "mem"), strongest first, each naming what it shares.
func TestRelated(t *testing.T) {
	f := newFixture(t, []string{"a", "b"}, 120)
	target := f.drivers["a"].Incidents()[0]
	within := 10 * 24 * time.Hour
	res, err := f.svc.Related(t.Context(), incidents.RelatedRequest{ID: "a:" + target.ID, Within: within, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	// The oracle: by the stored records, host names and user ids compared
	// directly (every memdriver instance plays the same vendor).
	var want []string
	for _, name := range []string{"a", "b"} {
		for _, inc := range f.drivers[name].Incidents() {
			d := inc.CreatedAt.Sub(target.CreatedAt)
			if name == "a" && inc.ID == target.ID || d < -within || d >= within {
				continue
			}
			host := inc.Devices[0].Name == target.Devices[0].Name || inc.Devices[0].ID == target.Devices[0].ID
			user := inc.Users[0].ID == target.Users[0].ID
			if host || user {
				want = append(want, name+":"+inc.ID)
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the fixture relates nothing; the test checks nothing")
	}
	var got []string
	for i, r := range res.Incidents {
		got = append(got, r.ID)
		if len(r.Shared) == 0 {
			t.Errorf("%s: no shared entity", r.ID)
		}
		if i > 0 && strongest(res.Incidents[i-1].Shared) < strongest(r.Shared) {
			t.Errorf("%s shares %d hosts/users, more than %s before it", r.ID, strongest(r.Shared), res.Incidents[i-1].ID)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("related = %v\nwant      %v", got, want)
	}
	if res.HasMore {
		t.Errorf("has_more with every instance read: %+v", res.Instances)
	}
	if _, err := f.svc.Related(t.Context(), incidents.RelatedRequest{ID: "a:" + target.ID, Within: 31 * 24 * time.Hour}); err == nil || !strings.Contains(err.Error(), "related_within") {
		t.Errorf("a window over 30 days: %v", err)
	}
}

func strongest(es []schema.Entity) int {
	n := 0
	for _, e := range es {
		if e.Kind == schema.EntityHost || e.Kind == schema.EntityUser {
			n++
		}
	}
	return n
}
