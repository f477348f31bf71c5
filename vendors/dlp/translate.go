package dlp

import (
	"slices"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// boundSlack widens both created_* bounds. The vendor says "created after"
// and "created before" without saying whether the bound itself matches
// (unverified), and may compare at whole seconds: one second more on each
// side never loses a match, and the local check drops the extra records.
const boundSlack = time.Second

// ListRequest is the body of POST {prefix}/incidents/list (seed 003), as
// the vendor receives it; Plan.Native echoes it to the model.
type ListRequest struct {
	Filters        *Filters `json:"filters,omitempty"`
	PageSize       int      `json:"page_size"`
	PageID         string   `json:"page_id,omitempty"`
	SortBy         string   `json:"sort_by,omitempty"`
	SortOrder      string   `json:"sort_order,omitempty"`
	IncludeDetails bool     `json:"include_details,omitempty"`
}

// Filters is the request's filter object. Every array is any-of, and the
// vendor reads an empty array as "no filter": omitempty keeps one from ever
// being sent, and translate never builds one (an empty set skips the call).
type Filters struct {
	Severity      []string `json:"severity,omitempty"`
	Status        []string `json:"status,omitempty"`
	PolicyIDs     []string `json:"policy_ids,omitempty"`
	EndpointIDs   []string `json:"endpoint_ids,omitempty"`
	UserIDs       []string `json:"user_ids,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	IncidentIDs   []string `json:"incident_ids,omitempty"`
	CreatedAfter  string   `json:"created_after,omitempty"`
	CreatedBefore string   `json:"created_before,omitempty"`
}

// translation is what a query turns into.
type translation struct {
	filters *Filters // nil when nothing is pushed
	pushed  []string
	exact   bool
	skip    bool
	sortBy  string
	desc    bool
	sorted  bool
}

// translate builds the filter object from criteria. What the object cannot
// express (title_contains, assignee, updated_*) is left to the service's
// local check, which makes the plan inexact.
func translate(c schema.Criteria, o schema.Order) translation {
	by, desc, sorted := sortFor(o)
	t := translation{exact: true, sortBy: by, desc: desc, sorted: sorted}
	skip := translation{skip: true, exact: true, sortBy: by, desc: desc, sorted: sorted}
	// DLP incidents have no tenant: a tenant criterion excludes every one.
	if c.Impossible || c.Tenant != "" {
		return skip
	}
	var f Filters
	push := func(arg string) { t.pushed = append(t.pushed, arg) }

	// Enums: map the allowed set. An empty mapped set means no DLP incident
	// can match, and sending [] would mean "all": skip. A set that covers
	// every DLP value filters nothing and is left out.
	var ok bool
	if f.Severity, ok = mapSet(c.Severities, severityToDLP, dlpSeverities); !ok {
		return skip
	}
	if f.Status, ok = mapSet(c.Statuses, statusToDLP, dlpStatuses); !ok {
		return skip
	}
	if len(f.Severity) > 0 {
		push("severity")
	}
	if len(f.Status) > 0 {
		push("status")
	}

	// Id lists map 1:1 (each DLP incident has one policy, one endpoint and
	// one user, so "any of the incident's devices is in the list" is "its
	// endpoint is in the list"). Criteria never hold an empty value list.
	for _, l := range []struct {
		arg  string
		vals []string
		dst  *[]string
	}{
		{"policy_ids", c.PolicyIDs, &f.PolicyIDs},
		{"device_ids", c.DeviceIDs, &f.EndpointIDs},
		{"user_ids", c.UserIDs, &f.UserIDs},
		{"tags", c.Tags, &f.Tags},
		{"ids", c.IDs, &f.IncidentIDs},
	} {
		if len(l.vals) > 0 {
			*l.dst = slices.Clone(l.vals)
			push(l.arg)
		}
	}

	if !c.CreatedAfter.IsZero() {
		f.CreatedAfter = c.CreatedAfter.UTC().Truncate(time.Second).Add(-boundSlack).Format(time.RFC3339)
		push("created_after")
		t.exact = false
	}
	if !c.CreatedBefore.IsZero() {
		f.CreatedBefore = ceilSecond(c.CreatedBefore.UTC()).Add(boundSlack).Format(time.RFC3339)
		push("created_before")
		t.exact = false
	}

	// No parameter exists for these; the service checks them locally.
	if c.TitleContains != "" || c.Assignee != "" || c.Unassigned || !c.UpdatedAfter.IsZero() || !c.UpdatedBefore.IsZero() {
		t.exact = false
	}
	if len(t.pushed) > 0 {
		t.filters = &f
	}
	return t
}

// mapSet maps a normalized set onto vendor values in the vendor's order.
// ok is false when a non-empty set maps to nothing; the result is nil when
// the set is empty or covers every vendor value.
func mapSet[N comparable](set []N, to map[N]string, all []string) (out []string, ok bool) {
	if len(set) == 0 {
		return nil, true
	}
	for _, v := range all {
		for _, n := range set {
			if to[n] == v {
				out = append(out, v)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, false
	}
	if len(out) == len(all) {
		return nil, true
	}
	return out, true
}

func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// sortKeys are the normalized orders DLP can sort by (sort_by also takes
// status, which the normalized model does not order by).
var sortKeys = map[schema.OrderKey]string{
	schema.OrderCreatedAt: "created_at",
	schema.OrderSeverity:  "severity",
}

// sortFor returns the sort the request asks for. An order DLP cannot sort
// by (updated_at) gets created_at in the same direction, stated explicitly
// so the order records come in is known rather than the vendor's default.
func sortFor(o schema.Order) (by string, desc, sorted bool) {
	if by, ok := sortKeys[o.Key]; ok {
		return by, o.Desc, true
	}
	return "created_at", o.Desc, false
}

// sortOrder is the vendor's sort_order value.
func sortOrder(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}
