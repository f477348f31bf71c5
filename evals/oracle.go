package evals

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// Fact is what the evals know of one incident, read straight from a
// simulator's dataset in the vendor's own shape and mapped with the
// vendor facts (DESIGN.md, section 3) by the vendor's simulator, not with
// the drivers: an expected answer computed here does not share the code it
// checks.
type Fact = descriptor.Fact

// Facts reads every simulator's dataset as the demo's credentials can see
// it, vendor by vendor in registry order.
func Facts(d *demo.Env) []Fact {
	var out []Fact
	for _, v := range registry.All() {
		if sim, ok := d.Simulators[v.Key()]; ok {
			out = append(out, sim.Facts()...)
		}
	}
	return out
}

var severityRank = map[string]int{"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// injection recognizes the planted prompt-injection incidents by what
// they say, not by how the simulators plant them.
var injection = regexp.MustCompile(`(?i)ignore previous instructions|update_incident`)

// Expect is a scenario's expected incident set, as criteria over Facts.
// Every criterion given must hold (AND); list values are alternatives (OR).
type Expect struct {
	Instances      []string `yaml:"instances"`
	Severity       []string `yaml:"severity"`
	MinSeverity    string   `yaml:"min_severity"`
	Status         []string `yaml:"status"`
	CreatedWithin  string   `yaml:"created_within"`
	CreatedBefore  string   `yaml:"created_older_than"`
	UpdatedWithin  string   `yaml:"updated_within"`
	TitleContains  string   `yaml:"title_contains"`
	Tags           []string `yaml:"tags"`
	Unassigned     bool     `yaml:"unassigned"`
	Technique      string   `yaml:"technique"`
	Injection      bool     `yaml:"injection"`
	Resolution     []string `yaml:"resolution"`
	Policy         string   `yaml:"policy"`
	DeviceOfNewest bool     `yaml:"device_of_newest"` // shares a device with the instance's newest incident
}

// Select returns the facts matching e, newest first.
func (e *Expect) Select(all []Fact) []Fact {
	within := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			panic("expect: bad duration " + s)
		}
		return Now.Add(-d)
	}
	cAfter, cBefore, uAfter := within(e.CreatedWithin), within(e.CreatedBefore), within(e.UpdatedWithin)
	var devices []string
	if e.DeviceOfNewest {
		newest := Newest(all, e.Instances)
		devices = newest.DeviceIDs
	}
	var out []Fact
	for _, f := range all {
		ok := (len(e.Instances) == 0 || slices.Contains(e.Instances, f.Instance)) &&
			(len(e.Severity) == 0 || slices.Contains(e.Severity, f.Severity)) &&
			(e.MinSeverity == "" || f.Severity != "" && severityRank[f.Severity] >= severityRank[e.MinSeverity]) &&
			(len(e.Status) == 0 || slices.Contains(e.Status, f.Status)) &&
			(cAfter.IsZero() || !f.Created.Before(cAfter)) &&
			(cBefore.IsZero() || f.Created.Before(cBefore)) &&
			(uAfter.IsZero() || !f.Updated.Before(uAfter)) &&
			(e.TitleContains == "" || strings.Contains(strings.ToLower(f.Title), strings.ToLower(e.TitleContains))) &&
			(len(e.Tags) == 0 || slices.ContainsFunc(e.Tags, func(t string) bool { return slices.Contains(f.Tags, t) })) &&
			(!e.Unassigned || f.Assignee == "") &&
			(e.Technique == "" || slices.Contains(f.Techniques, e.Technique)) &&
			(!e.Injection || injection.MatchString(f.Title) || injection.MatchString(f.Desc)) &&
			(len(e.Resolution) == 0 || slices.Contains(e.Resolution, f.Resolution)) &&
			(e.Policy == "" || f.Policy == e.Policy) &&
			(devices == nil || slices.ContainsFunc(devices, func(d string) bool { return slices.Contains(f.DeviceIDs, d) }))
		if ok {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Fact) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID)) })
	return out
}

// Newest is the most recently created incident of the instances.
func Newest(all []Fact, instances []string) Fact {
	var best Fact
	for _, f := range all {
		if len(instances) > 0 && !slices.Contains(instances, f.Instance) {
			continue
		}
		if best.ID == "" || f.Created.After(best.Created) {
			best = f
		}
	}
	return best
}

// TopDevice is the device id that appears in the most facts (ties: the
// smallest id), and how often.
func TopDevice(fs []Fact) (string, int) {
	n := map[string]int{}
	for _, f := range fs {
		for _, d := range f.DeviceIDs {
			n[d]++
		}
	}
	best, count := "", 0
	for d, c := range n {
		if c > count || c == count && d < best {
			best, count = d, c
		}
	}
	return best, count
}
