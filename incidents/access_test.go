package incidents_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
)

// TestServiceAccess: the service itself, not only the tools layer,
// answers a caller from the instances it may read: named lists and counts
// refuse a forbidden instance as an unknown one, unnamed ones leave it
// out, describe and get do not show it, and writes check the kind.
func TestServiceAccess(t *testing.T) {
	pol, err := access.New([]access.Rule{
		{Who: []string{"alice"}, Instances: []string{"a", "b"}, Rights: []string{"read", "write:comment"}},
	}, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, []string{"a", "b", "c"}, 20, incidents.WithAccess(pol))
	ctx := caller.With(t.Context(), caller.Identity{Name: "alice", Method: caller.MethodToken})
	same := func(what string, forbidden, unknown error) {
		t.Helper()
		if forbidden == nil || unknown == nil || forbidden.Error() != strings.ReplaceAll(unknown.Error(), "zz", "c") || schema.CodeOf(forbidden) != schema.CodeOf(unknown) {
			t.Errorf("%s: forbidden %v, unknown %v", what, forbidden, unknown)
		}
	}
	_, errC := f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"a", "c"}})
	_, errZ := f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"a", "zz"}})
	same("fan-out", errC, errZ)
	_, errC = f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"c"}, CountBy: []string{}})
	_, errZ = f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"zz"}, CountBy: []string{}})
	same("count", errC, errZ)
	_, errC = f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"c"}})
	_, errZ = f.svc.Query(ctx, incidents.QueryRequest{Instances: []string{"zz"}})
	same("list", errC, errZ)
	_, errC = f.svc.Get(ctx, "c:inc-0001", false)
	_, errZ = f.svc.Get(ctx, "zz:inc-0001", false)
	same("get", errC, errZ)
	s := "x"
	_, errC = f.svc.Preview(ctx, "c:inc-0001", schema.Patch{Comment: &s})
	_, errZ = f.svc.Preview(ctx, "zz:inc-0001", schema.Patch{Comment: &s})
	same("preview", errC, errZ)

	res, err := f.svc.Query(ctx, incidents.QueryRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Query.Instances, []string{"a", "b"}) || len(res.Incidents) != 40 {
		t.Errorf("unnamed fan-out asked %v and found %d", res.Query.Instances, len(res.Incidents))
	}
	cnt, err := f.svc.Query(ctx, incidents.QueryRequest{CountBy: []string{"instance"}})
	if err != nil || *cnt.Total != 40 {
		t.Errorf("unnamed count = %+v, %v", cnt, err)
	}
	var described []string
	for _, c := range f.svc.Describe(ctx) {
		described = append(described, c.Name)
		if !slices.Equal(c.Writable, []string{"comment"}) {
			t.Errorf("describe %s writable %v", c.Name, c.Writable)
		}
	}
	if !slices.Equal(described, []string{"a", "b"}) {
		t.Errorf("describe shows %v", described)
	}
	sev := schema.SeverityLow
	if _, err := f.svc.Preview(ctx, "a:inc-0001", schema.Patch{Severity: &sev}); schema.CodeOf(err) != schema.CodePermissionDenied {
		t.Errorf("a severity alice may not set: %v", err)
	}
	// A caller no rule names sees nothing, and is told so.
	_, err = f.svc.Query(t.Context(), incidents.QueryRequest{})
	if e, ok := errors.AsType[*schema.Error](err); !ok || e.Code != schema.CodeNotFound {
		t.Errorf("an anonymous fan-out: %v", err)
	}
}
