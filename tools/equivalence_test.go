package tools_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
)

// TestEquivalence: for every instance and many filters (a table derived from
// the data plus generated combinations), list_incidents paged to the end
// returns exactly the incidents the CEL program selects from the simulator's
// whole dataset, whatever the vendor could push down. On the way it holds
// the server's Go re-check (Match) to the all-CEL reference (MatchCEL) on
// every record of the dataset: a differential test of the two evaluators.
func TestEquivalence(t *testing.T) {
	f := newFixture(t, protocolVersions[1])
	for _, in := range f.env.Instances {
		t.Run(in.Name, func(t *testing.T) {
			// The instances are independent simulators: check them side
			// by side (the longest, Kaspersky's fixed pages, sets the pace).
			t.Parallel()
			all, err := drivertest.Dataset(t.Context(), in.Driver, in.Name)
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string]equivCase{}
			for name, flt := range drivertest.Filters(all, fixtureNow) {
				cases["table/"+name] = equivCase{filter: flt}
			}
			for name, w := range whereTable {
				cases["where/"+name] = equivCase{where: w}
			}
			rng := rand.New(rand.NewPCG(42, uint64(len(all))))
			for i := range 80 {
				cases[fmt.Sprintf("generated/%02d", i)] = generate(rng, all)
			}
			if len(cases) < 50 {
				t.Fatalf("only %d filters", len(cases))
			}
			for _, name := range slices.Sorted(maps.Keys(cases)) {
				tc := cases[name]
				t.Run(name, func(t *testing.T) {
					prog, err := filter.Compile(tc.filter, tc.where, fixtureNow)
					if err != nil {
						t.Fatal(err)
					}
					if got, _ := prog.ReferenceFields(); !slices.Equal(prog.Fields(), got) {
						t.Errorf("Fields() = %v, the reference program reads %v", prog.Fields(), got)
					}
					var want []string
					for i := range all {
						ok, err := prog.MatchCEL(t.Context(), &all[i])
						if err != nil {
							t.Fatal(err)
						}
						if fast, err := prog.Match(t.Context(), &all[i]); err != nil || fast != ok {
							t.Fatalf("on %s the Go re-check says %v (%v), the CEL reference %v", all[i].ID, fast, err, ok)
						}
						if ok {
							want = append(want, all[i].ID)
						}
					}
					args := tc.args(in.Name)
					args["page_size"] = 3 + len(name)%17
					got := ids(listAll(t, f, args))
					if len(got) != len(want) || !sameSet(got, want) {
						t.Errorf("filter %+v where %q: list_incidents returned %d incidents, the program over the dataset selects %d\ngot  %v\nwant %v",
							tc.filter, tc.where, len(got), len(want), head(got), head(want))
					}
				})
			}
		})
	}
}

type equivCase struct {
	filter schema.Filter
	where  string
}

// args renders the case as list_incidents arguments.
func (c equivCase) args(instance string) map[string]any {
	a := map[string]any{"instance": instance}
	put := func(k string, v any) {
		switch v := v.(type) {
		case string:
			if v != "" {
				a[k] = v
			}
		case []string:
			if len(v) > 0 {
				a[k] = v
			}
		}
	}
	flt := c.filter
	put("severity", flt.Severity)
	put("min_severity", flt.MinSeverity)
	put("status", flt.Status)
	put("created_after", flt.CreatedAfter)
	put("created_before", flt.CreatedBefore)
	put("updated_after", flt.UpdatedAfter)
	put("updated_before", flt.UpdatedBefore)
	put("title_contains", flt.TitleContains)
	put("assignee", flt.Assignee)
	put("tags", flt.Tags)
	put("device_ids", flt.DeviceIDs)
	put("user_ids", flt.UserIDs)
	put("policy_ids", flt.PolicyIDs)
	put("ids", flt.IDs)
	put("tenant", flt.Tenant)
	put("where", c.where)
	return a
}

var whereTable = map[string]string{
	"design example":       `incident.severity >= HIGH && "ransomware" in incident.tags && incident.created_at > now - duration("72h")`,
	"or of statuses":       `incident.status == OPEN || incident.status == ON_HOLD`,
	"negated severity":     `!(incident.severity in [LOW, MEDIUM])`,
	"many devices":         `size(incident.devices) >= 3`,
	"device name contains": `incident.devices.exists(d, d.name.icontains("srv"))`,
	"assigned and closed":  `incident.assignee.id != "" && incident.status == CLOSED`,
	"resolution":           `incident.resolution == TRUE_POSITIVE`,
	"title regex":          `incident.title.matches("^(?i)ransom")`,
	"updated after closed": `incident.updated_at - incident.created_at > duration("48h")`,
	"counts":               `incident.counts.devices > 1 || incident.counts.alerts > 3`,
	"mitre":                `incident.mitre.techniques.exists(t, t.startsWith("T1059"))`,
}

// generate picks two to four arguments with values from the dataset.
func generate(rng *rand.Rand, all []schema.Incident) equivCase {
	var c equivCase
	pick := func() *schema.Incident { return &all[rng.IntN(len(all))] }
	sub := func(vals []string) []string {
		var out []string
		for _, v := range vals {
			if rng.IntN(2) == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	for range 2 + rng.IntN(3) {
		switch rng.IntN(15) {
		case 0:
			c.filter.Severity = sub([]string{"informational", "low", "medium", "high", "critical"})
		case 1:
			c.filter.MinSeverity = string(schema.Severities[rng.IntN(len(schema.Severities))])
		case 2:
			c.filter.Status = sub([]string{"open", "in_progress", "on_hold", "resolved", "closed"})
		case 3:
			c.filter.CreatedAfter = fmt.Sprintf("%dd", 1+rng.IntN(60))
		case 4:
			c.filter.CreatedBefore = pick().CreatedAt.Format(time.RFC3339Nano)
		case 5:
			c.filter.UpdatedAfter = fmt.Sprintf("%dh", 1+rng.IntN(2000))
		case 6:
			words := strings.Fields(pick().Title)
			w := words[rng.IntN(len(words))]
			if rng.IntN(2) == 0 {
				w = strings.ToUpper(w)
			}
			c.filter.TitleContains = w
		case 7:
			if inc := pick(); inc.Assignee != nil {
				c.filter.Assignee = inc.Assignee.ID
			} else {
				c.filter.Assignee = "unassigned"
			}
		case 8:
			for range 1 + rng.IntN(2) {
				if inc := pick(); len(inc.Tags) > 0 {
					c.filter.Tags = append(c.filter.Tags, inc.Tags[rng.IntN(len(inc.Tags))])
				}
			}
		case 9:
			if inc := pick(); len(inc.Devices) > 0 {
				c.filter.DeviceIDs = []string{inc.Devices[0].ID}
			}
		case 11:
			if inc := pick(); len(inc.Users) > 0 {
				c.filter.UserIDs = []string{inc.Users[0].ID}
			}
		case 12:
			if inc := pick(); inc.Policy != nil {
				c.filter.PolicyIDs = []string{inc.Policy.ID}
			} else {
				c.filter.Tenant = inc.Tenant
			}
		case 13:
			c.filter.IDs = []string{pick().ID, pick().ID}
		case 14:
			c.filter.UpdatedBefore = fmt.Sprintf("%dd", 1+rng.IntN(60))
		case 10:
			c.where = []string{`incident.severity >= MEDIUM`, `incident.status != CLOSED`, `size(incident.tags) > 1`, `incident.title.icontains("on")`}[rng.IntN(4)]
		}
	}
	return c
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func head(ids []string) []string { return ids[:min(len(ids), 5)] }
