package access

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Row is one cell group of the effective matrix: what the principals one
// selector names may do on one instance, from every rule that lists it.
type Row struct {
	Who      string
	Instance string
	Rights   Rights
}

// Matrix is the effective grant of every selector the rules name, on
// every configured instance, in the order selectors first appear.
func (p *Policy) Matrix() []Row {
	var who []string
	for _, r := range p.rules {
		for _, s := range r.who {
			if !slices.Contains(who, s) {
				who = append(who, s)
			}
		}
	}
	var out []Row
	for _, s := range who {
		for _, n := range p.instances {
			var rs Rights
			for _, r := range p.rules {
				if slices.Contains(r.who, s) && slices.Contains(r.instances, n) {
					rs.add(r.rights)
				}
			}
			out = append(out, Row{Who: s, Instance: n, Rights: rs})
		}
	}
	return out
}

// WriteTable prints the effective matrix for people (--check-config).
func (p *Policy) WriteTable(w io.Writer) error {
	if p == nil {
		_, err := fmt.Fprintln(w, "access: no access section; every caller may read, write and approve on every instance")
		return err
	}
	fmt.Fprintf(w, "access: %d rule(s); a caller has the union of the rows that name it, and nothing elsewhere\n", len(p.rules))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  WHO\tINSTANCE\tREAD\tWRITE\tAPPROVE")
	for _, r := range p.Matrix() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", r.Who, r.Instance, yes(r.Rights.Read), writeText(r.Rights.Write), yes(r.Rights.Approve))
	}
	return tw.Flush()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// writeText is "all" for every kind, the kinds otherwise, "-" for none.
func writeText(ks []schema.PatchField) string {
	switch {
	case len(ks) == 0:
		return "-"
	case len(ks) == len(Kinds):
		return "all"
	}
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}
