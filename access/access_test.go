package access

import (
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

var names = []string{"dlp-b", "eset-a", "kaspersky-a"}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule Rule
		want string
	}{
		{"unknown selector kind", Rule{Who: []string{"role:admin"}, Instances: []string{"*"}, Rights: []string{"read"}}, `unknown kind of principal "role"`},
		{"empty group", Rule{Who: []string{"group:"}, Instances: []string{"*"}, Rights: []string{"read"}}, "name the group"},
		{"glob in a name", Rule{Who: []string{"ali*"}, Instances: []string{"*"}, Rights: []string{"read"}}, "matched exactly"},
		{"unknown instance", Rule{Who: []string{"alice"}, Instances: []string{"eset-z"}, Rights: []string{"read"}}, `no instance "eset-z"`},
		{"glob matching nothing", Rule{Who: []string{"alice"}, Instances: []string{"sentinel-*"}, Rights: []string{"read"}}, "matches no configured instance"},
		{"unknown right", Rule{Who: []string{"alice"}, Instances: []string{"*"}, Rights: []string{"admin"}}, `unknown right "admin"`},
		{"unknown kind", Rule{Who: []string{"alice"}, Instances: []string{"*"}, Rights: []string{"write:delete"}}, `unknown kind of change "delete"`},
		{"missing rights", Rule{Who: []string{"alice"}, Instances: []string{"*"}, Line: 7}, "access[0] (line 7): every rule needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]Rule{tc.rule}, names)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestGrant(t *testing.T) {
	p, err := New([]Rule{
		{Who: []string{"group:soc-a", "alice"}, Instances: []string{"eset-a", "kaspersky-*"}, Rights: []string{"read", "write:comment", "write:assignee"}},
		{Who: []string{"alice"}, Instances: []string{"eset-a"}, Rights: []string{"write:status", "approve"}},
		{Who: []string{"scope:incidents.write"}, Instances: []string{"dlp-b"}, Rights: []string{"write"}},
		{Who: []string{"*"}, Instances: []string{"dlp-b"}, Rights: []string{"read"}},
	}, names)
	if err != nil {
		t.Fatal(err)
	}
	alice := caller.Identity{Name: "alice", Method: caller.MethodToken}
	bob := caller.Identity{Name: "bob", Method: caller.MethodOAuth, Groups: []string{"soc-a"}}
	svc := caller.Identity{Name: "svc", Method: caller.MethodOAuth, Scopes: []string{"incidents.write"}}
	anon := caller.Identity{Method: caller.MethodNone}
	comment := []schema.PatchField{schema.PatchComment}
	closing := []schema.PatchField{schema.PatchClose, schema.PatchResolution}
	for _, tc := range []struct {
		name     string
		id       caller.Identity
		instance string
		read     bool
		write    []schema.PatchField
		approve  bool
	}{
		{"alice on eset-a: both rules", alice, "eset-a", true, []schema.PatchField{schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchComment}, true},
		{"alice through a glob", alice, "kaspersky-a", true, []schema.PatchField{schema.PatchAssignee, schema.PatchComment}, false},
		{"alice on dlp-b: everyone reads", alice, "dlp-b", true, nil, false},
		{"bob by group", bob, "eset-a", true, []schema.PatchField{schema.PatchAssignee, schema.PatchComment}, false},
		{"svc by scope writes all", svc, "dlp-b", true, Kinds, false},
		{"svc elsewhere", svc, "eset-a", false, nil, false},
		{"anonymous reads dlp-b only", anon, "dlp-b", true, nil, false},
		{"anonymous on eset-a", anon, "eset-a", false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := p.For(tc.id)
			rs := g.On(tc.instance)
			if rs.Read != tc.read || !slices.Equal(rs.Write, tc.write) || rs.Approve != tc.approve {
				t.Errorf("rights = %+v, want read %v write %v approve %v", rs, tc.read, tc.write, tc.approve)
			}
			if got := p.MayApprove(tc.id, tc.instance); got != tc.approve {
				t.Errorf("MayApprove = %v", got)
			}
			if denied := g.Denied(tc.instance, comment); (len(denied) == 0) != slices.Contains(tc.write, schema.PatchComment) {
				t.Errorf("Denied(comment) = %v with write %v", denied, tc.write)
			}
			if denied := g.Denied(tc.instance, closing); (len(denied) == 0) != slices.Contains(tc.write, schema.PatchClose) {
				t.Errorf("Denied(close+resolution) = %v with write %v", denied, tc.write)
			}
		})
	}
}

func TestNilPolicyAllowsEverything(t *testing.T) {
	var p *Policy
	g := p.ForContext(t.Context())
	if !g.Open() || !g.Read("anything") || !g.Approve("anything") || len(g.Denied("x", Kinds)) != 0 {
		t.Fatalf("a nil policy must allow everything: %+v", g)
	}
	if !p.MayApprove(caller.Identity{}, "eset-a") {
		t.Fatal("MayApprove on a nil policy")
	}
}

func TestPrincipalWithoutTransportIsAnonymous(t *testing.T) {
	if id := Principal(t.Context()); id.Method != caller.MethodNone || id.Name != "" {
		t.Fatalf("Principal = %+v", id)
	}
	p, err := New([]Rule{{Who: []string{"alice"}, Instances: []string{"*"}, Rights: []string{"read"}}}, names)
	if err != nil {
		t.Fatal(err)
	}
	if p.ForContext(t.Context()).Read("eset-a") {
		t.Fatal("a request without a principal read an instance only alice may read")
	}
	if !p.ForContext(caller.With(t.Context(), caller.Identity{Name: "alice", Method: caller.MethodToken})).Read("eset-a") {
		t.Fatal("alice cannot read")
	}
}

func TestKindsOf(t *testing.T) {
	closed := schema.StatusClosed
	res := schema.Resolution("false_positive")
	s := "x"
	got := KindsOf(schema.Patch{Status: &closed, Resolution: &res, Comment: &s})
	if want := []schema.PatchField{schema.PatchClose, schema.PatchComment}; !slices.Equal(got, want) {
		t.Fatalf("KindsOf = %v, want %v", got, want)
	}
}

func TestWriteTable(t *testing.T) {
	p, err := New([]Rule{
		{Who: []string{"alice"}, Instances: []string{"eset-a"}, Rights: []string{"write:comment", "approve"}},
		{Who: []string{"group:soc"}, Instances: []string{"*"}, Rights: []string{"write"}},
	}, names)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"WHO        INSTANCE     READ  WRITE    APPROVE",
		"alice      eset-a       yes   comment  yes",
		"alice      dlp-b        -     -        -",
		"group:soc  kaspersky-a  yes   all      -",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
