package approval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Path is one way a write can be confirmed.
type Path string

// Confirmation paths, from the strongest evidence of a human to the weakest.
const (
	// PathElicitation: the client shows the change to its user in a form
	// (MCP form elicitation) and returns the answer.
	PathElicitation Path = "elicitation"
	// PathApproval: an authenticated approver approves the change on the
	// approval page; the client may open it through URL elicitation.
	PathApproval Path = "approval"
	// PathToken: the model relays a confirmation token from the preview.
	// It proves the change was previewed, not that anyone agreed to it.
	PathToken Path = "token"
)

var allPaths = []Path{PathElicitation, PathApproval, PathToken}

// UnmarshalText accepts the name of a path (flags, YAML, JSON).
func (p *Path) UnmarshalText(b []byte) error {
	v := Path(strings.ToLower(strings.TrimSpace(string(b))))
	if !slices.Contains(allPaths, v) {
		return fmt.Errorf("unknown confirmation path %q; use elicitation, approval or token", b)
	}
	*p = v
	return nil
}

// Paths is a set of confirmation paths, in the order they were named.
type Paths []Path

// DefaultPaths are safe: a human confirms every write, in the client's form
// or on the approval page; the model-relayed token is off.
var DefaultPaths = Paths{PathElicitation, PathApproval}

// ParsePaths reads a comma-separated list such as "elicitation,approval".
func ParsePaths(s string) (Paths, error) {
	var out Paths
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		var p Path
		if err := p.UnmarshalText([]byte(f)); err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no confirmation path in %q; name at least one of elicitation, approval, token", s)
	}
	return out, nil
}

// String joins the paths with commas, as --confirm-paths takes them.
func (ps Paths) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// Has reports whether p is in the set.
func (ps Paths) Has(p Path) bool { return slices.Contains(ps, p) }

// Rule is what one scope (server, instance, kind of change) requires.
// Unset fields inherit from the next less specific scope.
type Rule struct {
	// Paths allowed to confirm the change.
	Paths Paths `json:"paths,omitempty" yaml:"paths,omitempty"`
	// Approvers is the number of distinct approvers the approval page needs
	// (the four-eyes rule when 2). More than one rules out the paths where
	// a single person or the model confirms.
	Approvers int `json:"approvers,omitempty" yaml:"approvers,omitempty"`
}

// InstancePolicy overrides the server-wide rules for one instance.
type InstancePolicy struct {
	Rule    `yaml:",inline"`
	Changes map[schema.PatchField]Rule `json:"changes,omitempty" yaml:"changes,omitempty"`
}

// Policy says how writes are confirmed. Its zero value allows the default
// paths with one approver. It loads from a config file section such as
//
//	confirm:
//	  paths: [elicitation, approval]
//	  elicitation_by: [alice, "group:soc-leads"]
//	  changes:
//	    comment: {paths: [elicitation, approval, token]}
//	    close: {paths: [approval], approvers: 2}
//	  instances:
//	    eset-prod:
//	      paths: [approval]
//
// For each kind of change (title, description, severity, assignee, close,
// reopen, comment) the most specific rule wins: the instance's rule for that
// kind, then the instance's own rule, then the server-wide rule for that
// kind, then the server-wide rule. A change touching several kinds needs a
// path every one of them allows, and the largest number of approvers.
type Policy struct {
	Rule `yaml:",inline"`
	// ElicitationBy names the principals whose form elicitation counts as
	// a person's confirmation ("name", "group:G", "scope:S", "*"). The
	// local user of a stdio server always counts; over HTTP only the
	// principals listed here do, and everyone else's writes go to the
	// approval page (or the token, where the policy opens it).
	ElicitationBy []string `json:"elicitation_by,omitempty" yaml:"elicitation_by,omitempty"`
	// ViewApprovers names the principals ("name", "group:G", "scope:S",
	// "*") who may approve or reject a pending change inside the change
	// view of an MCP Apps host, as MCP callers rather than signed in to the
	// approval page. Nobody by default: the decision then comes from an
	// MCP client, which a host could let its model drive (docs/mcp-apps.md).
	// They still need the approve right on the instance (access rules), and
	// never approve their own change.
	ViewApprovers []string                   `json:"view_approvers,omitempty" yaml:"view_approvers,omitempty"`
	Changes       map[schema.PatchField]Rule `json:"changes,omitempty" yaml:"changes,omitempty"`
	Instances     map[string]InstancePolicy  `json:"instances,omitempty" yaml:"instances,omitempty"`
}

// Uses reports whether any rule of the policy allows p; with no rule at all
// the default paths apply.
func (pol *Policy) Uses(p Path) bool {
	rules := []Rule{pol.Rule}
	for _, r := range pol.Changes {
		rules = append(rules, r)
	}
	for _, ip := range pol.Instances {
		rules = append(rules, ip.Rule)
		for _, r := range ip.Changes {
			rules = append(rules, r)
		}
	}
	if len(pol.Paths) == 0 && DefaultPaths.Has(p) {
		return true
	}
	for _, r := range rules {
		if r.Paths.Has(p) {
			return true
		}
	}
	return false
}

// Requirement is what the policy asks of one concrete change.
type Requirement struct {
	Paths     Paths
	Approvers int
}

// Allows reports whether the change may be confirmed through p. More than
// one approver leaves only the approval page.
func (r Requirement) Allows(p Path) bool {
	if r.Approvers > 1 && p != PathApproval {
		return false
	}
	return r.Paths.Has(p)
}

// For returns the requirement for changing kinds on instance.
func (pol *Policy) For(instance string, kinds []schema.PatchField) Requirement {
	ip := pol.Instances[instance]
	var req Requirement
	for i, k := range kinds {
		paths, approvers := pol.rule(ip, k)
		if i == 0 {
			req.Paths = slices.Clone(paths)
		} else {
			req.Paths = slices.DeleteFunc(req.Paths, func(p Path) bool { return !paths.Has(p) })
		}
		req.Approvers = max(req.Approvers, approvers)
	}
	if len(kinds) == 0 {
		paths, approvers := pol.rule(ip, "")
		req.Paths, req.Approvers = slices.Clone(paths), approvers
	}
	req.Approvers = max(req.Approvers, 1)
	return req
}

// rule resolves one kind, most specific scope first.
func (pol *Policy) rule(ip InstancePolicy, kind schema.PatchField) (Paths, int) {
	scopes := []Rule{ip.Changes[kind], ip.Rule, pol.Changes[kind], pol.Rule}
	var paths Paths
	approvers := 0
	for _, r := range scopes {
		if paths == nil && len(r.Paths) > 0 {
			paths = r.Paths
		}
		if approvers == 0 && r.Approvers > 0 {
			approvers = r.Approvers
		}
	}
	if paths == nil {
		paths = DefaultPaths
	}
	return paths, approvers
}

// Validate checks the names in the policy; kinds must be patch fields.
func (pol *Policy) Validate() error {
	kinds := []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchComment}
	check := func(where string, r Rule, changes map[schema.PatchField]Rule) error {
		if r.Approvers < 0 {
			return fmt.Errorf("%s: approvers must be 1 or more", where)
		}
		for k, cr := range changes {
			if !slices.Contains(kinds, k) {
				return fmt.Errorf("%s: unknown kind of change %q; use one of title, description, severity, assignee, close, reopen, comment", where, k)
			}
			if cr.Approvers < 0 {
				return fmt.Errorf("%s.changes.%s: approvers must be 1 or more", where, k)
			}
		}
		return nil
	}
	for key, sels := range map[string][]string{"elicitation_by": pol.ElicitationBy, "view_approvers": pol.ViewApprovers} {
		for _, sel := range sels {
			if strings.TrimSpace(sel) == "" || strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(sel, "group:"), "scope:")) == "" {
				return fmt.Errorf("confirm.%s: empty selector %q; use a name, group:NAME, scope:NAME or *", key, sel)
			}
		}
	}
	if err := check("confirm", pol.Rule, pol.Changes); err != nil {
		return err
	}
	for name, ip := range pol.Instances {
		if err := check("confirm.instances."+name, ip.Rule, ip.Changes); err != nil {
			return err
		}
	}
	return nil
}

// KindsOf lists the kinds of change in p, as the policy names them; a
// resolution belongs to its close.
func KindsOf(p schema.Patch) []schema.PatchField {
	var out []schema.PatchField
	add := func(set bool, k schema.PatchField) {
		if set {
			out = append(out, k)
		}
	}
	add(p.Title != nil, schema.PatchTitle)
	add(p.Description != nil, schema.PatchDescription)
	add(p.Severity != nil, schema.PatchSeverity)
	add(p.Assignee != nil, schema.PatchAssignee)
	add(p.Status != nil && *p.Status == schema.StatusClosed, schema.PatchClose)
	add(p.Status != nil && *p.Status != schema.StatusClosed, schema.PatchReopen)
	add(p.Resolution != nil && p.Status == nil, schema.PatchClose)
	add(p.Comment != nil, schema.PatchComment)
	return out
}
