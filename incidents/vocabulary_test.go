package incidents_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

// TestFilterVocabularyFollowsInstances: the filter language is the
// normalized vocabulary plus the configured vendors' own resolutions. With
// a vendor that declares one, a `where` naming it compiles and finds
// exactly its records on one instance, over several and in a count;
// without that vendor it is refused like any unknown value, listing the
// values that exist.
func TestFilterVocabularyFollowsInstances(t *testing.T) {
	const own schema.Resolution = "benign_by_policy"
	incs := memdriver.Generate(11, 60, now)
	var want []string
	for i := range incs {
		if incs[i].Status == schema.StatusClosed && i%2 == 0 {
			incs[i].Resolution = own
			want = append(want, "vend:"+incs[i].ID)
		}
	}
	if len(want) == 0 {
		t.Fatal("the dataset has no closed incident to carry the vendor's resolution")
	}
	slices.Sort(want)
	mem := &incidents.Instance{Name: "mem", Driver: memdriver.New(memdriver.Config{Incidents: memdriver.Generate(12, 60, now)})}
	vend := &incidents.Instance{Name: "vend", Driver: memdriver.New(memdriver.Config{Vendor: "vend", Incidents: incs, Resolutions: []schema.Resolution{own}})}
	newService := func(t *testing.T, ins ...*incidents.Instance) *incidents.Service {
		t.Helper()
		svc, err := incidents.New(ins, testSealer(t), slog.New(slog.DiscardHandler), incidents.WithClock(newClock().Now))
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	withVendor, withoutVendor := newService(t, mem, vend), newService(t, mem)

	for _, where := range []string{`incident.resolution == "benign_by_policy"`, `incident.resolution == BENIGN_BY_POLICY`} {
		for _, tc := range []struct {
			name      string
			instances []string
		}{{"one instance", []string{"vend"}}, {"several", nil}} {
			t.Run(tc.name+": "+where, func(t *testing.T) {
				res, err := withVendor.Query(t.Context(), incidents.QueryRequest{Instances: tc.instances, Where: where, PageSize: incidents.MaxPageSize})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, inc := range res.Incidents {
					got = append(got, inc.ID)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) || res.HasMore {
					t.Errorf("found %v (more: %v), want %v", got, res.HasMore, want)
				}
			})
		}
		t.Run("count: "+where, func(t *testing.T) {
			res, err := withVendor.Query(t.Context(), incidents.QueryRequest{Where: where, CountBy: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total == nil || *res.Total != len(want) {
				t.Errorf("count %v, want %d", res.Total, len(want))
			}
		})
	}

	for _, r := range []incidents.QueryRequest{
		{Instances: []string{"mem"}, Where: `incident.resolution == "benign_by_policy"`},
		{Where: `incident.resolution == "benign_by_policy"`},
		{Where: `incident.resolution == "benign_by_policy"`, CountBy: []string{}},
	} {
		_, err := withoutVendor.Query(t.Context(), r)
		if err == nil || schema.CodeOf(err) != schema.CodeInvalidArgument ||
			!strings.Contains(err.Error(), `incident.resolution is never "benign_by_policy"; its values are "true_positive", "false_positive", "suspicious", "low_priority", "merged"`) {
			t.Errorf("without the vendor, %+v: %v, want it refused with the values that exist", r, err)
		}
	}

	bad := &incidents.Instance{Name: "bad", Driver: memdriver.New(memdriver.Config{Resolutions: []schema.Resolution{"Not a threat"}})}
	if _, err := incidents.New([]*incidents.Instance{mem, bad}, testSealer(t), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), `"Not a threat"`) {
		t.Errorf("New with a resolution the filter language cannot name = %v, want an error naming it", err)
	}
}
