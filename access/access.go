// Package access decides what each caller may do on each instance: read
// its incidents, make which kinds of change, approve changes on the
// approval page. The operator grants these in the `access:` section of the
// configuration file, as rules of principals (names, group:NAME,
// scope:NAME, *), instances (names or globs) and rights:
//
//	access:
//	  - who: [group:soc-customer-a, alice]
//	    instances: [eset-a, kaspersky-a]
//	    rights: [read, write:comment, write:assignee, approve]
//
// A caller has the union of the rights of every rule that names it; no
// rule, no right. Every write right includes read: a change is previewed
// on the incident as it is. A nil *Policy (no `access:` section) lets
// everyone do everything, as a single-user server always did.
//
// The package only answers questions; the incidents service enforces the
// answers (and makes a forbidden instance look like one that does not
// exist), the tools layer hides what a caller may not use.
package access

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

// Rights as the configuration names them. A write right may name one kind
// of change: write:comment, write:close, …; write alone is every kind.
const (
	RightRead    = "read"
	RightWrite   = "write"
	RightApprove = "approve"
)

// Kinds are the kinds of change a write right can name, in the order
// tables show them: the approval policy's kinds (schema.PatchField).
// A resolution belongs to its close.
var Kinds = []schema.PatchField{
	schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee,
	schema.PatchClose, schema.PatchReopen, schema.PatchComment,
}

// kindAliases are the names a write right may use for several kinds.
var kindAliases = map[string][]schema.PatchField{
	"status": {schema.PatchClose, schema.PatchReopen},
}

// Rule is one entry of the `access:` section, as written.
type Rule struct {
	// Who are principal selectors: a name, group:NAME, scope:NAME or *.
	Who []string
	// Instances are instance names or globs (path.Match: eset-*, *).
	Instances []string
	// Rights are read, write, write:KIND and approve.
	Rights []string
	// Line is where the rule starts in the file (0 when not from a file).
	Line int
}

// Rights are what a caller may do on one instance.
type Rights struct {
	Read bool
	// Write are the kinds of change allowed, in Kinds order.
	Write   []schema.PatchField
	Approve bool
}

// Writes reports whether any change is allowed.
func (r Rights) Writes() bool { return len(r.Write) > 0 }

func (r *Rights) add(o Rights) {
	r.Read = r.Read || o.Read
	r.Approve = r.Approve || o.Approve
	for _, k := range o.Write {
		if !slices.Contains(r.Write, k) {
			r.Write = append(r.Write, k)
		}
	}
	slices.SortFunc(r.Write, func(a, b schema.PatchField) int { return slices.Index(Kinds, a) - slices.Index(Kinds, b) })
}

// Policy is a validated `access:` section. A nil *Policy allows everything.
type Policy struct {
	rules     []rule
	instances []string
}

type rule struct {
	who       []string
	instances []string // expanded to configured names
	rights    Rights
	line      int
}

// New validates rules against the configured instance names. Errors name
// the rule and its line; the config package reports them at the exact key.
func New(rules []Rule, instances []string) (*Policy, error) {
	p := &Policy{instances: slices.Sorted(slices.Values(instances))}
	for i, r := range rules {
		at := fmt.Sprintf("access[%d]", i)
		if r.Line > 0 {
			at = fmt.Sprintf("access[%d] (line %d)", i, r.Line)
		}
		if len(r.Who) == 0 || len(r.Instances) == 0 || len(r.Rights) == 0 {
			return nil, fmt.Errorf("%s: every rule needs who, instances and rights", at)
		}
		ru := rule{line: r.Line}
		for _, s := range r.Who {
			if err := CheckSelector(s); err != nil {
				return nil, fmt.Errorf("%s.who: %w", at, err)
			}
			ru.who = append(ru.who, s)
		}
		for _, pat := range r.Instances {
			names, err := Expand(pat, instances)
			if err != nil {
				return nil, fmt.Errorf("%s.instances: %w", at, err)
			}
			for _, n := range names {
				if !slices.Contains(ru.instances, n) {
					ru.instances = append(ru.instances, n)
				}
			}
		}
		for _, s := range r.Rights {
			rs, err := ParseRight(s)
			if err != nil {
				return nil, fmt.Errorf("%s.rights: %w", at, err)
			}
			ru.rights.add(rs)
		}
		p.rules = append(p.rules, ru)
	}
	return p, nil
}

// selectorKind is the prefix of a selector that names a kind of principal.
var selectorKind = regexp.MustCompile(`^([A-Za-z_-]+):`)

// CheckSelector accepts a principal selector: a name, group:NAME,
// scope:NAME, or * for anyone.
func CheckSelector(s string) error {
	if strings.TrimSpace(s) != s || s == "" {
		return fmt.Errorf("%q: a selector has no surrounding spaces and is not empty", s)
	}
	if m := selectorKind.FindStringSubmatch(s); m != nil {
		switch m[1] {
		case "group", "scope":
			if strings.TrimPrefix(s, m[0]) == "" {
				return fmt.Errorf("%q: name the %s after %q", s, m[1], m[0])
			}
			return nil
		}
		return fmt.Errorf("%q: unknown kind of principal %q; use a name, group:NAME, scope:NAME or *", s, m[1])
	}
	if strings.ContainsAny(s, "*?[") && s != "*" {
		return fmt.Errorf("%q: names are matched exactly; * alone means anyone", s)
	}
	return nil
}

// Expand resolves an instance name or glob to the configured names it
// names; naming nothing is an error, so a typo never grants silently.
func Expand(pattern string, instances []string) ([]string, error) {
	sorted := slices.Sorted(slices.Values(instances))
	if !strings.ContainsAny(pattern, "*?[") {
		if !slices.Contains(sorted, pattern) {
			return nil, fmt.Errorf("no instance %q; configured instances: %s", pattern, strings.Join(sorted, ", "))
		}
		return []string{pattern}, nil
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("%q is not a valid glob: %w", pattern, err)
	}
	var out []string
	for _, n := range sorted {
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q matches no configured instance (%s)", pattern, strings.Join(sorted, ", "))
	}
	return out, nil
}

// ParseRight reads one right: read, approve, write (every kind) or
// write:KIND for one kind of change (status for close and reopen).
func ParseRight(s string) (Rights, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case RightRead:
		return Rights{Read: true}, nil
	case RightApprove:
		return Rights{Approve: true}, nil
	case RightWrite:
		return Rights{Read: true, Write: slices.Clone(Kinds)}, nil
	}
	kind, ok := strings.CutPrefix(v, RightWrite+":")
	if !ok {
		return Rights{}, fmt.Errorf("unknown right %q; use read, write, write:KIND (%s) or approve", s, kindNames())
	}
	if ks, ok := kindAliases[kind]; ok {
		return Rights{Read: true, Write: slices.Clone(ks)}, nil
	}
	k := schema.PatchField(kind)
	if k == schema.PatchResolution {
		k = schema.PatchClose
	}
	if !slices.Contains(Kinds, k) {
		return Rights{}, fmt.Errorf("unknown kind of change %q in %q; use one of %s", kind, s, kindNames())
	}
	return Rights{Read: true, Write: []schema.PatchField{k}}, nil
}

func kindNames() string {
	s := make([]string, 0, len(Kinds)+1)
	for _, k := range Kinds {
		s = append(s, string(k))
	}
	return strings.Join(append(s, "status"), ", ")
}

// KindsOf lists the kinds of change p makes, as rights name them: a
// resolution belongs to its close.
func KindsOf(p schema.Patch) []schema.PatchField {
	var out []schema.PatchField
	for _, f := range p.Fields() {
		if f == schema.PatchResolution {
			f = schema.PatchClose
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Principal is the caller in ctx; a request no transport marked is
// anonymous (caller.MethodNone), which only * selects.
func Principal(ctx context.Context) caller.Identity {
	id, ok := caller.From(ctx)
	if !ok {
		return caller.Identity{Method: caller.MethodNone}
	}
	return id
}

// Grant is what one principal may do, instance by instance.
type Grant struct {
	// open is true without a policy: every right everywhere.
	open bool
	by   map[string]Rights
}

// For evaluates the policy for one principal.
func (p *Policy) For(id caller.Identity) Grant {
	if p == nil {
		return Grant{open: true}
	}
	g := Grant{by: map[string]Rights{}}
	for _, r := range p.rules {
		if !slices.ContainsFunc(r.who, id.Matches) {
			continue
		}
		for _, n := range r.instances {
			rs := g.by[n]
			rs.add(r.rights)
			g.by[n] = rs
		}
	}
	return g
}

// ForContext evaluates the policy for the caller in ctx.
func (p *Policy) ForContext(ctx context.Context) Grant { return p.For(Principal(ctx)) }

// MayApprove reports whether id may approve changes to instance's
// incidents on the approval page.
func (p *Policy) MayApprove(id caller.Identity, instance string) bool {
	return p.For(id).Approve(instance)
}

// Open reports whether the grant is unrestricted (no policy).
func (g Grant) Open() bool { return g.open }

// On returns the rights on one instance.
func (g Grant) On(instance string) Rights {
	if g.open {
		return Rights{Read: true, Write: slices.Clone(Kinds), Approve: true}
	}
	return g.by[instance]
}

// Read reports whether the caller may see instance and its incidents.
func (g Grant) Read(instance string) bool { return g.On(instance).Read }

// Approve reports whether the caller may approve changes on instance.
func (g Grant) Approve(instance string) bool { return g.On(instance).Approve }

// Denied returns the kinds of change among kinds that the caller may not
// make on instance; none means the change is allowed.
func (g Grant) Denied(instance string, kinds []schema.PatchField) []schema.PatchField {
	if g.open {
		return nil
	}
	allowed := g.by[instance].Write
	var out []schema.PatchField
	for _, k := range kinds {
		if k == schema.PatchResolution {
			k = schema.PatchClose
		}
		if !slices.Contains(allowed, k) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Readable filters names to the instances the caller may read, in order.
func (g Grant) Readable(names []string) []string {
	if g.open {
		return slices.Clone(names)
	}
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !g.Read(n) })
}

// WritesAnywhere reports whether the caller may make some change on some
// instance among names.
func (g Grant) WritesAnywhere(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return g.On(n).Writes() })
}
