package tools_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// docsAccessConfig is the example configuration of docs/access.md: the
// matrix below is checked against it, so the example cannot rot.
func docsAccessConfig(t *testing.T) *config.File {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "access.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/access.md has no yaml example")
	}
	env := map[string]string{"ESET_A_PASSWORD": "p", "KASPERSKY_A_TOKEN": "t", "DLP_B_API_KEY": "k"}
	f, err := config.Parse(m[1], settings.Source{Path: "docs/access.md", Mode: 0o600, Getenv: func(k string) string { return env[k] }}, registry.Settings())
	if err != nil {
		t.Fatalf("the example of docs/access.md: %v", err)
	}
	if f.Access == nil {
		t.Fatal("the example of docs/access.md has no access section")
	}
	return f
}

// The principals of the matrix, as the transports would set them.
var (
	alice    = caller.Identity{Name: "alice", Method: caller.MethodToken}
	bob      = caller.Identity{Name: "bob", Method: caller.MethodOAuth, Issuer: "https://idp.example", Groups: []string{"soc-customer-b"}}
	reporter = caller.Identity{Name: "report-bot", Method: caller.MethodOAuth, Issuer: "https://idp.example", Scopes: []string{"incidents.read"}}
)

// cell is what one principal may do on one instance, written out by hand
// from the rules of docs/access.md (not computed by the access package).
type cell struct {
	read    bool
	write   []schema.PatchField
	approve bool
}

var every = []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchComment}

var wantMatrix = map[string]map[string]cell{
	"alice": {
		"eset-a":      {read: true, write: every, approve: true},
		"kaspersky-a": {read: true, write: []schema.PatchField{schema.PatchAssignee, schema.PatchComment}},
		"dlp-b":       {},
	},
	"bob": {
		"eset-a":      {},
		"kaspersky-a": {},
		"dlp-b":       {read: true, write: []schema.PatchField{schema.PatchClose, schema.PatchReopen, schema.PatchComment}, approve: true},
	},
	"report-bot": {
		"eset-a":      {read: true},
		"kaspersky-a": {read: true},
		"dlp-b":       {read: true},
	},
}

// matrixFixture is a server over three in-memory instances named as in
// the example, with the example's access rules and the token path open
// (so that a permitted change answers with a preview).
type matrixFixture struct {
	svc   *incidents.Service
	srv   *server.MCPServer
	audit string
	// open and closed are an open and a closed native id per instance.
	open, closed map[string]string
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	t.Helper()
	f := docsAccessConfig(t)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	fx := &matrixFixture{audit: filepath.Join(t.TempDir(), "audit.jsonl"), open: map[string]string{}, closed: map[string]string{}}
	auditLog, err := audit.Open(fx.audit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	var ins []*incidents.Instance
	for i, in := range f.Instances {
		data := memdriver.Generate(uint64(i+1), 40, fixtureNow)
		for _, inc := range data {
			switch {
			case inc.Status == schema.StatusClosed && fx.closed[in.Name] == "":
				fx.closed[in.Name] = inc.ID
			case inc.Status == schema.StatusOpen && fx.open[in.Name] == "":
				fx.open[in.Name] = inc.ID
			}
		}
		ins = append(ins, &incidents.Instance{Name: in.Name, Driver: memdriver.New(memdriver.Config{Vendor: in.Vendor, Incidents: data})})
	}
	fx.svc, err = incidents.New(ins, sealer, slog.New(slog.DiscardHandler),
		incidents.WithClock(func() time.Time { return fixtureNow }), incidents.WithAudit(auditLog), incidents.WithAccess(f.Access))
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = tools.NewServer(fx.svc, "test", slog.New(slog.DiscardHandler), tools.Options{Update: tools.UpdateOptions{
		Policy: &approval.Policy{Rule: approval.Rule{Paths: approval.Paths{approval.PathToken}}},
	}})
	return fx
}

// rpc sends one JSON-RPC request as id and returns the whole answer as
// JSON, and its result decoded.
func (fx *matrixFixture) rpc(t *testing.T, id caller.Identity, method string, params any) (string, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	resp := fx.srv.HandleMessage(caller.With(t.Context(), id), b)
	out, _ := json.Marshal(resp)
	var m struct {
		Result map[string]any `json:"result"`
	}
	json.Unmarshal(out, &m)
	return string(out), m.Result
}

func (fx *matrixFixture) call(t *testing.T, id caller.Identity, tool string, args map[string]any) (string, map[string]any) {
	t.Helper()
	return fx.rpc(t, id, "tools/call", map[string]any{"name": tool, "arguments": args})
}

func isError(res map[string]any) bool { b, _ := res["isError"].(bool); return b }

func structured(res map[string]any) map[string]any {
	m, _ := res["structuredContent"].(map[string]any)
	return m
}

// sameAsUnknown checks that the answer about a forbidden instance is the
// answer about an unconfigured one, byte for byte, but for the name.
func sameAsUnknown(t *testing.T, what, forbidden, unknown, name, unknownName string) {
	t.Helper()
	if forbidden != strings.ReplaceAll(unknown, unknownName, name) {
		t.Errorf("%s: a forbidden instance answers differently from an unknown one:\nforbidden: %s\nunknown:   %s", what, forbidden, unknown)
	}
}

// TestAccessMatrix checks every cell of 3 principals × 3 instances ×
// read/write/approve on list (one instance and fan-out), count (one and
// fan-out), get, describe_instances, tools/list, update_incident's preview
// for each kind of change, and the approve answer.
func TestAccessMatrix(t *testing.T) {
	fx := newMatrixFixture(t)
	const ghost = "zz-ghost"
	checks := 0
	principals := []caller.Identity{alice, bob, reporter}
	instances := []string{"dlp-b", "eset-a", "kaspersky-a"}
	for _, p := range principals {
		t.Run(p.Name, func(t *testing.T) {
			// Answers that do not depend on the instance.
			fan, fanRes := fx.call(t, p, tools.ListIncidents, map[string]any{"page_size": 100})
			if isError(fanRes) {
				t.Fatalf("fan-out list: %s", fan)
			}
			fanQuery := structured(fanRes)["query"].(map[string]any)
			fanCount, fanCountRes := fx.call(t, p, tools.ListIncidents, map[string]any{"count_by": []string{"instance"}})
			if isError(fanCountRes) {
				t.Fatalf("fan-out count: %s", fanCount)
			}
			counted := structured(fanCountRes)["counts"].(map[string]any)["instance"].(map[string]any)
			_, desc := fx.call(t, p, tools.DescribeInstances, map[string]any{})
			described := map[string]map[string]any{}
			for _, c := range structured(desc)["instances"].([]any) {
				c := c.(map[string]any)
				described[c["name"].(string)] = c
			}
			_, listed := fx.rpc(t, p, "tools/list", map[string]any{})
			toolDesc := map[string]string{}
			for _, tl := range listed["tools"].([]any) {
				tl := tl.(map[string]any)
				toolDesc[tl["name"].(string)] = tl["description"].(string)
			}
			unknownList, _ := fx.call(t, p, tools.ListIncidents, map[string]any{"instance": ghost})
			unknownCount, _ := fx.call(t, p, tools.ListIncidents, map[string]any{"instance": ghost, "count_by": []string{"status"}})
			unknownGet, _ := fx.call(t, p, tools.GetIncident, map[string]any{"id": ghost + ":inc-0001"})
			ghostTool, _ := fx.call(t, p, "no_such_tool", map[string]any{})
			writesAnywhere := false
			for _, c := range wantMatrix[p.Name] {
				writesAnywhere = writesAnywhere || len(c.write) > 0
			}
			for _, name := range instances {
				want := wantMatrix[p.Name][name]
				t.Run(name, func(t *testing.T) {
					// list, one instance
					raw, res := fx.call(t, p, tools.ListIncidents, map[string]any{"instance": name, "page_size": 5})
					if want.read {
						if isError(res) || len(structured(res)["incidents"].([]any)) != 5 {
							t.Errorf("list %s: %s", name, raw)
						}
					} else {
						sameAsUnknown(t, "list", raw, unknownList, name, ghost)
					}
					// list, fan-out
					seen := slices.Contains(asked(fanQuery), name)
					for _, inc := range structured(fanRes)["incidents"].([]any) {
						if inc.(map[string]any)["instance"] == name && !want.read {
							t.Errorf("fan-out listed an incident of %s", name)
						}
					}
					if seen != want.read {
						t.Errorf("fan-out asked %s: %v, want %v", name, seen, want.read)
					}
					// count, one instance and fan-out
					raw, res = fx.call(t, p, tools.ListIncidents, map[string]any{"instance": name, "count_by": []string{"status"}})
					if want.read {
						if isError(res) || structured(res)["total"] != float64(40) {
							t.Errorf("count %s: %s", name, raw)
						}
					} else {
						sameAsUnknown(t, "count", raw, unknownCount, name, ghost)
					}
					if _, ok := counted[name]; ok != want.read {
						t.Errorf("fan-out count of %s: counted %v, want %v", name, ok, want.read)
					}
					// get
					raw, res = fx.call(t, p, tools.GetIncident, map[string]any{"id": name + ":inc-0001"})
					if want.read {
						if isError(res) || structured(res)["id"] != name+":inc-0001" {
							t.Errorf("get on %s: %s", name, raw)
						}
					} else {
						sameAsUnknown(t, "get", raw, unknownGet, name, ghost)
					}
					// describe_instances
					c, ok := described[name]
					if ok != want.read {
						t.Errorf("describe_instances shows %s: %v, want %v", name, ok, want.read)
					}
					if ok {
						var writable []string
						for _, w := range c["writable"].([]any) {
							writable = append(writable, w.(string))
						}
						if wantW := writableOf(want.write); !slices.Equal(writable, wantW) {
							t.Errorf("describe_instances writable on %s = %v, want %v", name, writable, wantW)
						}
						if got := strings.Contains(c["access"].(string), "approve"); got != want.approve {
							t.Errorf("describe_instances access on %s = %q, approve want %v", name, c["access"], want.approve)
						}
					}
					// tools/list
					if got := strings.Contains(toolDesc[tools.ListIncidents], name); got != want.read {
						t.Errorf("list_incidents description names %s: %v, want %v", name, got, want.read)
					}
					// update_incident: a preview for each kind of change
					for _, kind := range every {
						args := changeOf(kind, name, fx)
						raw, res := fx.call(t, p, tools.UpdateIncident, args)
						allowed := slices.Contains(want.write, kind)
						switch {
						case !writesAnywhere:
							// Not listed, and refused as a tool that does not exist.
							sameAsUnknown(t, "update_incident unlisted", raw, ghostTool, tools.UpdateIncident, "no_such_tool")
						case allowed:
							if isError(res) || structured(res)["confirmation_token"] == nil {
								t.Errorf("%s on %s: want a preview, got %s", kind, name, raw)
							}
						case want.read:
							if !isError(res) || !strings.Contains(raw, string(schema.CodePermissionDenied)) || !strings.Contains(raw, "write:") {
								t.Errorf("%s on %s: want permission_denied, got %s", kind, name, raw)
							}
						default:
							id := args["id"].(string)
							ghostAnswer, _ := fx.call(t, p, tools.UpdateIncident, withID(args, ghost+":"+strings.TrimPrefix(id, name+":")))
							sameAsUnknown(t, "update", raw, ghostAnswer, name, ghost)
						}
						checks++
					}
					// approve
					if got := fx.svc.Access().MayApprove(p, name); got != want.approve {
						t.Errorf("MayApprove(%s, %s) = %v, want %v", p.Name, name, got, want.approve)
					}
					checks += 8 // list, fan-out list, count, fan-out count, get, describe, tools/list, approve
				})
			}
			// update_incident is listed only for a caller who may write
			// somewhere.
			if _, has := toolDesc[tools.UpdateIncident]; has != writesAnywhere {
				t.Errorf("tools/list has update_incident: %v, want %v", has, writesAnywhere)
			}
		})
	}
	t.Logf("access matrix: %d principals × %d instances, %d checks (each kind of change a check of its own)", len(principals), len(instances), checks)
	fmt.Printf("access matrix (in-process): %d cells checked\n", checks)
}

// writableOf is what describe_instances lists as writable for the kinds a
// caller may change on an in-memory instance (resolution goes with close).
func writableOf(kinds []schema.PatchField) []string {
	var out []string
	for _, f := range []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee,
		schema.PatchClose, schema.PatchReopen, schema.PatchResolution, schema.PatchComment} {
		k := f
		if k == schema.PatchResolution {
			k = schema.PatchClose
		}
		if slices.Contains(kinds, k) {
			out = append(out, string(f))
		}
	}
	return out
}

// changeOf is a valid change of one kind to an incident of instance.
func changeOf(kind schema.PatchField, instance string, fx *matrixFixture) map[string]any {
	id := instance + ":" + fx.open[instance]
	args := map[string]any{"id": id}
	switch kind {
	case schema.PatchTitle:
		args["title"] = "Reviewed by the SOC"
	case schema.PatchDescription:
		args["description"] = "see ticket 42"
	case schema.PatchSeverity:
		args["severity"] = "low"
	case schema.PatchAssignee:
		args["assignee"] = "user-9"
	case schema.PatchClose:
		args["status"], args["resolution"] = "closed", "false_positive"
	case schema.PatchReopen:
		args["id"], args["status"] = instance+":"+fx.closed[instance], "open"
	case schema.PatchComment:
		args["comment"] = "looked at it"
	}
	return args
}

// asked are the instances a list asked: all of a fan-out's, or the one
// instance a caller who may read only one is answered from.
func asked(query map[string]any) []string {
	if one, ok := query["instance"].(string); ok {
		return []string{one}
	}
	var out []string
	for _, v := range query["instances"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

func withID(args map[string]any, id string) map[string]any {
	out := map[string]any{}
	for k, v := range args {
		out[k] = v
	}
	out["id"] = id
	return out
}

// TestAccessDenialsAudited: a refused read and a refused change each
// leave a "denied" record naming the principal, the operation and the
// instance; writes are not counted as outcomes.
func TestAccessDenialsAudited(t *testing.T) {
	fx := newMatrixFixture(t)
	fx.call(t, alice, tools.GetIncident, map[string]any{"id": "dlp-b:inc-0001"})
	fx.call(t, alice, tools.UpdateIncident, map[string]any{"id": "kaspersky-a:" + fx.open["kaspersky-a"], "severity": "low"})
	recs, _, err := audit.Read(fx.audit)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ principal, op, instance, id string }
	var got []key
	for _, r := range recs {
		if r.Outcome == audit.Denied {
			got = append(got, key{r.Principal, r.Operation, r.Instance, r.ID})
		}
	}
	want := []key{
		{"token:alice", "get", "dlp-b", "dlp-b:inc-0001"},
		{"token:alice", "update", "kaspersky-a", "kaspersky-a:" + fx.open["kaspersky-a"]},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("denied records = %+v, want %+v", got, want)
	}
	// A call to a tool the caller's access hides is refused as unknown,
	// and audited.
	if raw, _ := fx.call(t, reporter, tools.UpdateIncident, map[string]any{"id": "eset-a:inc-0001", "comment": "x"}); !strings.Contains(raw, "not found") {
		t.Fatalf("report-bot called update_incident: %s", raw)
	}
	recs, _, err = audit.Read(fx.audit)
	if err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1]; last.Outcome != audit.Denied || last.Operation != tools.UpdateIncident || last.Principal != reporter.Key() {
		t.Errorf("hidden tool call audited as %+v", last)
	}
	if o := audit.Outcomes(recs); len(o) != 0 {
		t.Errorf("denials counted as write outcomes: %+v", o)
	}
}

// TestAccessApplyRechecks: a confirmation previewed by a caller who may
// comment is refused when a caller who may only read presents it: the
// write right is checked again when the change is applied.
func TestAccessApplyRechecks(t *testing.T) {
	fx := newMatrixFixture(t)
	args := map[string]any{"id": "eset-a:" + fx.open["eset-a"], "comment": "seen"}
	raw, res := fx.call(t, alice, tools.UpdateIncident, args)
	token, _ := structured(res)["confirmation_token"].(string)
	if token == "" {
		t.Fatalf("no preview for alice: %s", raw)
	}
	args["confirmation_token"] = token
	// report-bot may read eset-a but has no write right anywhere: the
	// tool is not even there for it.
	if raw, _ := fx.call(t, reporter, tools.UpdateIncident, args); !strings.Contains(raw, "not found") {
		t.Errorf("report-bot applied alice's confirmation: %s", raw)
	}
	// A confirmation presented with a change alice may not make is refused
	// for the access, before the confirmation is looked at.
	if raw, _ := fx.call(t, alice, tools.UpdateIncident, withID(map[string]any{"severity": "low", "confirmation_token": token}, "kaspersky-a:"+fx.open["kaspersky-a"])); !strings.Contains(raw, "permission_denied") {
		t.Errorf("a confirmation carried a change alice may not make: %s", raw)
	}
	// bob may write, elsewhere: eset-a does not exist for him.
	if raw, _ := fx.call(t, bob, tools.UpdateIncident, args); !strings.Contains(raw, `which is not configured`) {
		t.Errorf("bob applied alice's confirmation: %s", raw)
	}
	if raw, res := fx.call(t, alice, tools.UpdateIncident, args); isError(res) {
		t.Errorf("alice's own confirmation refused: %s", raw)
	}
}

// TestAccessNothingGranted: a caller no rule names sees no instance, is
// told so, and is offered no tool but describe_instances.
func TestAccessNothingGranted(t *testing.T) {
	fx := newMatrixFixture(t)
	nobody := caller.Identity{Name: "mallory", Method: caller.MethodToken}
	_, listed := fx.rpc(t, nobody, "tools/list", map[string]any{})
	var names []string
	for _, tl := range listed["tools"].([]any) {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, []string{tools.DescribeInstances}) {
		t.Errorf("tools/list for a caller with no right = %v", names)
	}
	if raw, res := fx.call(t, nobody, tools.DescribeInstances, map[string]any{}); len(structured(res)["instances"].([]any)) != 0 || !strings.Contains(raw, "ask the server's operator") {
		t.Errorf("describe_instances for a caller with no right: %s", raw)
	}
	if raw, _ := fx.call(t, nobody, tools.ListIncidents, map[string]any{}); !strings.Contains(raw, "not found") {
		t.Errorf("list_incidents for a caller with no right: %s", raw)
	}
	// Anonymous requests (no transport set a principal) are selected by
	// none of the example's rules either.
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tools.GetIncident, "arguments": map[string]any{"id": "eset-a:inc-0001"}}})
	out, _ := json.Marshal(fx.srv.HandleMessage(t.Context(), b))
	if !strings.Contains(string(out), "not found") {
		t.Errorf("an anonymous get: %s", out)
	}
}

// TestAccessPrompts: prompts name only the caller's instances, refuse the
// others as unknown, and the writing workflow is offered only to a caller
// who may change something.
func TestAccessPrompts(t *testing.T) {
	fx := newMatrixFixture(t)
	_, listed := fx.rpc(t, reporter, "prompts/list", map[string]any{})
	for _, p := range listed["prompts"].([]any) {
		if name := p.(map[string]any)["name"].(string); name == "close_false_positive" {
			t.Error("report-bot, who may change nothing, is offered close_false_positive")
		}
	}
	raw, _ := fx.rpc(t, alice, "prompts/get", map[string]any{"name": "triage", "arguments": map[string]any{}})
	if !strings.Contains(raw, "eset-a") || strings.Contains(raw, "dlp-b") {
		t.Errorf("alice's triage prompt: %s", raw)
	}
	forbidden, _ := fx.rpc(t, alice, "prompts/get", map[string]any{"name": "triage", "arguments": map[string]any{"instances": "dlp-b"}})
	ghost, _ := fx.rpc(t, alice, "prompts/get", map[string]any{"name": "triage", "arguments": map[string]any{"instances": "zz-ghost"}})
	sameAsUnknown(t, "prompt", forbidden, ghost, "dlp-b", "zz-ghost")
}
