package filter

import (
	"github.com/incident-mcp/incident-mcp/schema"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// recheck evaluates the structured criteria on a normalized record with
// plain Go: the same semantics as referenceSource's CEL terms (the
// differential tests prove it over the simulators' datasets), at a fraction
// of the cost and without allocating. Zero values mean "no constraint",
// as in Criteria.
type recheck struct {
	impossible bool
	// severities has bit r set for each allowed rank r; 0 means any.
	severities uint8
	statuses   []schema.Status
	tenant     string
	unassigned bool
	assignee   string

	createdAfter, createdBefore time.Time
	updatedAfter, updatedBefore time.Time

	ids, policyIDs, tags, deviceIDs, userIDs []string
	// title is title_contains in lower case.
	title string
}

// newRecheck prepares c's checks and names the incident fields they read.
func newRecheck(c *schema.Criteria) (recheck, map[string]bool) {
	r := recheck{
		impossible: c.Impossible, statuses: c.Statuses, tenant: c.Tenant,
		unassigned: c.Unassigned, assignee: c.Assignee,
		createdAfter: c.CreatedAfter, createdBefore: c.CreatedBefore,
		updatedAfter: c.UpdatedAfter, updatedBefore: c.UpdatedBefore,
		ids: c.IDs, policyIDs: c.PolicyIDs, tags: c.Tags, deviceIDs: c.DeviceIDs, userIDs: c.UserIDs,
		title: strings.ToLower(c.TitleContains),
	}
	fields := map[string]bool{}
	use := func(cond bool, field string) {
		if cond {
			fields[field] = true
		}
	}
	// All five severities constrain nothing (an unrated record matches too).
	if len(c.Severities) > 0 && len(c.Severities) < len(schema.Severities) {
		for _, s := range c.Severities {
			r.severities |= 1 << s.Rank()
		}
	}
	use(r.severities != 0, "severity")
	use(len(c.Statuses) > 0, "status")
	use(c.Tenant != "", "tenant")
	use(c.Unassigned || c.Assignee != "", "assignee")
	use(!c.CreatedAfter.IsZero() || !c.CreatedBefore.IsZero(), "created_at")
	use(!c.UpdatedAfter.IsZero() || !c.UpdatedBefore.IsZero(), "updated_at")
	use(len(c.IDs) > 0, "id")
	use(len(c.PolicyIDs) > 0, "policy")
	use(len(c.Tags) > 0, "tags")
	use(len(c.DeviceIDs) > 0, "devices")
	use(len(c.UserIDs) > 0, "users")
	use(c.TitleContains != "", "title")
	return r, fields
}

func (r *recheck) match(inc *schema.Incident) bool {
	if r.impossible {
		return false
	}
	if r.severities != 0 && r.severities&(1<<inc.Severity.Rank()) == 0 {
		return false
	}
	if len(r.statuses) > 0 && !slices.Contains(r.statuses, inc.Status) {
		return false
	}
	if !r.createdAfter.IsZero() && inc.CreatedAt.Before(r.createdAfter) ||
		!r.createdBefore.IsZero() && !inc.CreatedAt.Before(r.createdBefore) ||
		!r.updatedAfter.IsZero() && inc.UpdatedAt.Before(r.updatedAfter) ||
		!r.updatedBefore.IsZero() && !inc.UpdatedAt.Before(r.updatedBefore) {
		return false
	}
	if r.tenant != "" && inc.Tenant != r.tenant {
		return false
	}
	if r.unassigned || r.assignee != "" {
		id := ""
		if inc.Assignee != nil {
			id = inc.Assignee.ID
		}
		if r.unassigned && id != "" || !r.unassigned && id != r.assignee {
			return false
		}
	}
	if len(r.ids) > 0 && !slices.Contains(r.ids, inc.ID) {
		return false
	}
	if len(r.policyIDs) > 0 {
		id := ""
		if inc.Policy != nil {
			id = inc.Policy.ID
		}
		if !slices.Contains(r.policyIDs, id) {
			return false
		}
	}
	if len(r.tags) > 0 && !slices.ContainsFunc(inc.Tags, func(t string) bool { return slices.Contains(r.tags, t) }) {
		return false
	}
	if len(r.deviceIDs) > 0 && !anyRef(inc.Devices, r.deviceIDs) || len(r.userIDs) > 0 && !anyRef(inc.Users, r.userIDs) {
		return false
	}
	return r.title == "" || containsLower(inc.Title, r.title)
}

func anyRef(refs []schema.Ref, ids []string) bool {
	for i := range refs {
		if slices.Contains(ids, refs[i].ID) {
			return true
		}
	}
	return false
}

// containsLower is ContainsFold(s, sub) for a sub already in lower case,
// without allocating when s is ASCII (strings.ToLower maps ASCII letters
// only, so folding byte by byte gives the same answer).
func containsLower(s, lowerSub string) bool {
	if !isASCII(s) {
		return strings.Contains(strings.ToLower(s), lowerSub)
	}
	n := len(lowerSub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n && lowerASCII(s[i+j]) == lowerSub[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
