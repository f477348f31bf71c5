package approval

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/schema"
)

func TestParsePaths(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Paths
		wantErr bool
	}{
		{in: "elicitation,approval", want: Paths{PathElicitation, PathApproval}},
		{in: " Token , approval,token", want: Paths{PathToken, PathApproval}},
		{in: "elicitation", want: Paths{PathElicitation}},
		{in: "", wantErr: true},
		{in: "email", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePaths(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

const policyYAML = `
paths: [elicitation, approval]
changes:
  comment: {paths: [elicitation, approval, token]}
  close: {paths: [approval], approvers: 2}
instances:
  eset-prod:
    paths: [approval]
  lab:
    paths: [elicitation, approval, token]
    changes:
      close: {paths: [elicitation, approval]}
`

func TestPolicyFromYAML(t *testing.T) {
	var pol Policy
	if err := yaml.Unmarshal([]byte(policyYAML), &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	k := func(ks ...schema.PatchField) []schema.PatchField { return ks }
	for _, tc := range []struct {
		name      string
		instance  string
		kinds     []schema.PatchField
		paths     Paths
		approvers int
	}{
		{"server-wide default", "eset", k(schema.PatchSeverity), Paths{PathElicitation, PathApproval}, 1},
		{"token only for comments", "eset", k(schema.PatchComment), Paths{PathElicitation, PathApproval, PathToken}, 1},
		{"closes need two approvers on the page", "eset", k(schema.PatchClose), Paths{PathApproval}, 2},
		{"close with comment takes the stricter", "eset", k(schema.PatchClose, schema.PatchComment), Paths{PathApproval}, 2},
		{"instance rule beats server-wide kind rule", "eset-prod", k(schema.PatchComment), Paths{PathApproval}, 1},
		{"instance keeps the server-wide approvers", "eset-prod", k(schema.PatchClose), Paths{PathApproval}, 2},
		{"instance kind rule beats all", "lab", k(schema.PatchClose), Paths{PathElicitation, PathApproval}, 2},
		{"instance widens", "lab", k(schema.PatchTitle), Paths{PathElicitation, PathApproval, PathToken}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pol.For(tc.instance, tc.kinds)
			if !slices.Equal(got.Paths, tc.paths) || got.Approvers != tc.approvers {
				t.Errorf("For(%s, %v) = %v/%d, want %v/%d", tc.instance, tc.kinds, got.Paths, got.Approvers, tc.paths, tc.approvers)
			}
		})
	}
}

func TestPolicyRejectsUnknownNames(t *testing.T) {
	for _, doc := range []string{
		"paths: [elicitation, email]",
		"changes: {delete: {paths: [approval]}}",
		"instances: {x: {changes: {close: {approvers: -1}}}}",
	} {
		var pol Policy
		err := yaml.Unmarshal([]byte(doc), &pol)
		if err == nil {
			err = pol.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
	var pol Policy
	if err := json.Unmarshal([]byte(`{"paths":["approval","token"]}`), &pol); err != nil || !slices.Equal(pol.Paths, Paths{PathApproval, PathToken}) {
		t.Errorf("JSON: %v %v", pol.Paths, err)
	}
}

func TestRequirementAllows(t *testing.T) {
	var zero Policy
	r := zero.For("any", []schema.PatchField{schema.PatchTitle})
	if !r.Allows(PathElicitation) || !r.Allows(PathApproval) || r.Allows(PathToken) {
		t.Errorf("the default must allow elicitation and approval, never the token: %+v", r)
	}
	four := Requirement{Paths: Paths{PathElicitation, PathApproval, PathToken}, Approvers: 2}
	if four.Allows(PathElicitation) || four.Allows(PathToken) || !four.Allows(PathApproval) {
		t.Errorf("two approvers leave only the approval page: %+v", four)
	}
}

func TestKindsOf(t *testing.T) {
	closed, open := schema.StatusClosed, schema.StatusOpen
	res := schema.Resolution("false_positive")
	s := "x"
	for _, tc := range []struct {
		p    schema.Patch
		want []schema.PatchField
	}{
		{schema.Patch{Status: &closed, Resolution: &res, Comment: &s}, []schema.PatchField{schema.PatchClose, schema.PatchComment}},
		{schema.Patch{Status: &open}, []schema.PatchField{schema.PatchReopen}},
		{schema.Patch{Resolution: &res}, []schema.PatchField{schema.PatchClose}},
		{schema.Patch{Title: &s, Assignee: &s}, []schema.PatchField{schema.PatchTitle, schema.PatchAssignee}},
	} {
		if got := KindsOf(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("KindsOf = %v, want %v", got, tc.want)
		}
	}
}

// TestPolicySelectorsValidated: an empty selector among the principals
// whose elicitation counts, or among the view approvers, is refused naming
// its key.
func TestPolicySelectorsValidated(t *testing.T) {
	for key, pol := range map[string]Policy{
		"confirm.elicitation_by": {ElicitationBy: []string{"alice", "group:"}},
		"confirm.view_approvers": {ViewApprovers: []string{" "}},
	} {
		if err := pol.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
	ok := Policy{ElicitationBy: []string{"alice"}, ViewApprovers: []string{"bob", "group:soc-leads", "scope:incidents:approve"}}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}
