package incidents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Capabilities describe what one instance can do, as its driver plans it.
type Capabilities struct {
	Name     string `json:"name"`
	Vendor   string `json:"vendor"`
	ReadOnly bool   `json:"read_only"`
	// Native are the filter arguments the vendor applies itself; Local the
	// ones only the server's re-check applies (reading more records);
	// Unsatisfiable the ones no incident of this instance can meet, and why.
	Native        []string          `json:"native_filters"`
	Local         []string          `json:"local_filters"`
	Unsatisfiable map[string]string `json:"unsatisfiable_filters,omitempty"`
	Sorts         []string          `json:"sorts"`
	Writable      []string          `json:"writable"`
	// Write says what write values look like (resolutions, assignee).
	Write      *driver.WriteInfo `json:"write,omitempty"`
	RateLimit  string            `json:"rate_limit,omitempty"`
	Budget     Budget            `json:"-"`
	BudgetText string            `json:"budget"`
	Notes      []string          `json:"notes,omitempty"`
	// Access says what the caller may do here, when the server has
	// access rules.
	Access string `json:"access,omitempty"`
	// LastContact is when the vendor last answered this server.
	LastContact *time.Time `json:"last_contact,omitempty"`
}

// probes are one sample value per filter argument: planning each alone
// shows whether the driver pushes it, leaves it to the local check, or
// knows it can never match.
func probes(now time.Time) []struct {
	arg string
	c   schema.Criteria
} {
	const id = "00000000-0000-4000-8000-000000000000"
	return []struct {
		arg string
		c   schema.Criteria
	}{
		{"severity", schema.Criteria{Severities: []schema.Severity{schema.SeverityHigh}}},
		{"status", schema.Criteria{Statuses: []schema.Status{schema.StatusOpen}}},
		{"created_after", schema.Criteria{CreatedAfter: now.Add(-72 * time.Hour)}},
		{"updated_after", schema.Criteria{UpdatedAfter: now.Add(-72 * time.Hour)}},
		{"title_contains", schema.Criteria{TitleContains: "probe"}},
		{"assignee", schema.Criteria{Assignee: "probe"}},
		{"tags", schema.Criteria{Tags: []string{"probe"}}},
		{"device_ids", schema.Criteria{DeviceIDs: []string{id}}},
		{"user_ids", schema.Criteria{UserIDs: []string{id}}},
		{"policy_ids", schema.Criteria{PolicyIDs: []string{id}}},
		{"ids", schema.Criteria{IDs: []string{id}}},
		{"tenant", schema.Criteria{Tenant: id}},
	}
}

// Describe lists the capabilities of every instance the caller in ctx may
// read, by name, with only the changes it may make there.
func (s *Service) Describe(ctx context.Context) []Capabilities {
	now := s.now().UTC()
	g := s.grant(ctx)
	visible := g.Readable(s.names)
	out := make([]Capabilities, 0, len(visible))
	for _, name := range visible {
		in := s.instances[name]
		b := s.budgetFor(in, Budget{})
		c := Capabilities{
			Name: name, Vendor: in.info.Vendor, ReadOnly: in.ReadOnly, RateLimit: in.RateLimit, Budget: b,
			BudgetText: budgetText(b), Notes: in.info.Notes, Native: []string{}, Local: []string{},
		}
		for _, p := range probes(now) {
			plan, err := in.Driver.Plan(driver.Query{Criteria: p.c, Order: schema.DefaultOrder, PageSize: 1, Fields: []string{"*"}})
			switch {
			case err != nil:
				// A value the driver checks against its configuration (a
				// tenant it does not read): the vendor applies the argument.
				c.Native = append(c.Native, p.arg)
			case plan.Skip && plan.SkipReason != "":
				if c.Unsatisfiable == nil {
					c.Unsatisfiable = map[string]string{}
				}
				c.Unsatisfiable[p.arg] = plan.SkipReason
			case slices.Contains(plan.Pushed, p.arg):
				c.Native = append(c.Native, p.arg)
			default:
				c.Local = append(c.Local, p.arg)
			}
		}
		for _, o := range in.info.Sorts {
			c.Sorts = append(c.Sorts, o.String())
		}
		for _, f := range in.info.Updates {
			if len(g.Denied(name, []schema.PatchField{f})) == 0 {
				c.Writable = append(c.Writable, string(f))
			}
		}
		if !g.Open() {
			c.Access = accessText(g.On(name))
		}
		switch {
		case in.ReadOnly || (len(c.Writable) == 0 && len(in.info.Updates) > 0):
			c.Writable = []string{}
		case len(c.Writable) > 0:
			w := in.info.Write
			c.Write = &w
		}
		if t := in.LastContact(); !t.IsZero() {
			c.LastContact = &t
		}
		out = append(out, c)
	}
	return out
}

// accessText is a caller's rights on one instance in words.
func accessText(r access.Rights) string {
	parts := []string{"read"}
	if len(r.Write) == len(access.Kinds) {
		parts = append(parts, "write")
	} else if len(r.Write) > 0 {
		parts = append(parts, "write "+joinFields(r.Write))
	}
	if r.Approve {
		parts = append(parts, "approve")
	}
	return strings.Join(parts, "; ")
}

func budgetText(b Budget) string {
	return fmt.Sprintf("%d upstream requests or %s per call", b.Requests, b.Time)
}
