package evals

import (
	"slices"
	"strings"
	"time"
)

// RelatedWindow is the window each side of an incident that related_to
// searches by default.
const RelatedWindow = 72 * time.Hour

// Related is a scenario's expected related_to answer: the incidents of
// Instances created within RelatedWindow of Of that share an entity of Kind
// ("user" or "host") with it, by the vendors' own names.
type Related struct {
	Of        string   `yaml:"of"`
	Kind      string   `yaml:"kind"`
	Instances []string `yaml:"instances"`
}

// person folds a user name as an analyst would compare them: no domain, no
// "DOMAIN\\" prefix, any case, dots and spaces alike. It is written here
// from the vendors' shapes, not taken from the server's code.
func person(s string) string {
	s = strings.ToLower(s)
	if i := strings.LastIndex(s, `\`); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == ' ' || r == '_' }), " ")
}

func host(s string) string {
	s = strings.ToLower(s)
	if i := strings.Index(s, "."); i >= 0 {
		s = s[:i]
	}
	return s
}

// names are f's entity names of kind, folded.
func names(f Fact, kind string) []string {
	var out []string
	src, fold := f.People, person
	if kind == "host" {
		src, fold = f.DeviceNames, host
	}
	for _, n := range src {
		if n = fold(n); n != "" {
			out = appendNew(out, n)
		}
	}
	return out
}

func shares(a, b Fact, kind string) bool {
	na := names(a, kind)
	return slices.ContainsFunc(names(b, kind), func(n string) bool { return slices.Contains(na, n) })
}

// RelatedSet is the expected answer for the incident of.
func (r *Related) RelatedSet(all []Fact, of Fact) []string {
	var out []string
	for _, f := range all {
		d := f.Created.Sub(of.Created)
		if f.ID == of.ID || !slices.Contains(r.Instances, f.Instance) || d < -RelatedWindow || d >= RelatedWindow {
			continue
		}
		if shares(of, f, r.Kind) {
			out = append(out, f.ID)
		}
	}
	return out
}

// sharedWith is the newest incident of instance from that shares an
// entity of kind with an incident of instance to within RelatedWindow:
// what "$shared-user:dlp:kaspersky" names.
func sharedWith(all []Fact, kind, from, to string) string {
	r := Related{Kind: kind, Instances: []string{to}}
	var best Fact
	for _, f := range all {
		if f.Instance != from || (best.ID != "" && !f.Created.After(best.Created)) {
			continue
		}
		if len(r.RelatedSet(all, f)) > 0 {
			best = f
		}
	}
	return best.ID
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
