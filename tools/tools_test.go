package tools_test

import (
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/internal/demotest"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/memdriver"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureNow is the simulators' reference time; tests that need relative
// times use the service clock pinned to it.
var fixtureNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// Protocol versions the tests speak: the last with the initialize handshake
// and the stateless one.
var protocolVersions = []string{"2025-11-25", "2026-07-28"}

type fixture struct {
	env   *demotest.Env
	svc   *incidents.Service
	srv   *server.MCPServer
	c     *client.Client
	audit string
	// page is the approval page when the setup asked for one; its clock
	// runs from fixtureNow, ahead by skew.
	page *approval.Page
	skew atomic.Int64
	// who is the principal every call carries (the local user unless the
	// setup names another).
	who caller.Identity
	// instructions are the server instructions from initialize.
	instructions string
}

// setup configures a fixture beyond its protocol version.
type setup struct {
	tools  tools.Options
	elicit client.ElicitationHandler
	// incidents per simulator; 0 means 300.
	incidents int
	// extra adds instances beside the demo's.
	extra func(env *demotest.Env) []*incidents.Instance
	// caps declares elicitation modes (with elicit); nil declares the
	// empty capability, which means form.
	caps *mcp.ElicitationCapability
	// approval serves an approval page with the demo approvers.
	approval bool
	// who is the caller of every call; zero means the local user "tester",
	// as on stdio.
	who caller.Identity
	// mem serves three in-memory instances (vendors/memdriver) instead
	// of the simulators: for tests of the service and tool layers (fan-out,
	// merging, counting, paging) that need no vendor's wire format. The
	// simulators stay for equivalence, vendor writes and end-to-end tests.
	mem bool
}

// memInstances are three in-memory vendors shaped like the real ones: a
// small paged API with both created_at orders, one serving fixed pages of
// 100 (read by prefix, as Kaspersky's), and one without policies or
// tenants and only the newest-first order.
func memInstances(n int) []*incidents.Instance {
	newestFirst := []schema.Order{{Key: schema.OrderCreatedAt, Desc: true}}
	// without drops what a vendor's incidents never have, as its Lacks says.
	without := func(seed uint64, tenant, policy bool) []schema.Incident {
		recs := memdriver.Generate(seed, n, fixtureNow)
		for i := range recs {
			if tenant {
				recs[i].Tenant = ""
			}
			if policy {
				recs[i].Policy = nil
			}
		}
		return recs
	}
	return []*incidents.Instance{
		{Name: "mem-paged", Driver: memdriver.New(memdriver.Config{Vendor: "mem-paged", Incidents: without(11, false, false), MaxPageSize: 25})},
		{Name: "mem-fixed", Driver: memdriver.New(memdriver.Config{Vendor: "mem-fixed", Incidents: without(12, true, false), FixedPageSize: 100, Lacks: []string{"tenant"}})},
		{Name: "mem-lean", Driver: memdriver.New(memdriver.Config{Vendor: "mem-lean", Incidents: without(13, true, true), MaxPageSize: 50,
			Sorts: newestFirst, Lacks: []string{"policy_ids", "tenant"}})},
	}
}

func newFixture(t *testing.T, protocol string) *fixture { return newFixtureTB(t, protocol, setup{}) }

func newFixtureTB(t testing.TB, protocol string, o setup) *fixture {
	t.Helper()
	n := o.incidents
	if n == 0 {
		n = 300
	}
	env := &demotest.Env{Env: &demo.Env{Instances: memInstances(n)}}
	if !o.mem {
		var err error
		if env, err = demotest.Start(demotest.Options{Seed: 11, Incidents: n, Now: fixtureNow, Unlimited: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(env.Close)
	}
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	auditLog, err := audit.Open(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auditLog.Close() })
	instances := env.Instances
	if o.extra != nil {
		instances = append(slices.Clone(instances), o.extra(env)...)
	}
	svc, err := incidents.New(instances, sealer, slog.New(slog.DiscardHandler),
		incidents.WithClock(func() time.Time { return fixtureNow }), incidents.WithAudit(auditLog))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, svc: svc, audit: auditPath, who: o.who}
	if f.who.Method == "" {
		f.who = caller.Local("tester")
	}
	if o.approval {
		mux := http.NewServeMux()
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)
		f.page, err = approval.NewPage(approval.Config{Store: approval.NewMemStore(), Approvers: approval.DemoApprovers(), BaseURL: hs.URL,
			Now: func() time.Time { return fixtureNow.Add(time.Duration(f.skew.Load())) }})
		if err != nil {
			t.Fatal(err)
		}
		f.page.Register(mux)
		o.tools.Update.Approval = f.page
	}
	srv := tools.NewServer(svc, "test", slog.New(slog.DiscardHandler), o.tools)
	var copts []client.ClientOption
	if o.elicit != nil {
		copts = append(copts, client.WithElicitationHandler(o.elicit))
		if o.caps != nil {
			copts = append(copts, client.WithClientCapabilities(mcp.ClientCapabilities{Elicitation: o.caps}))
		}
	}
	c, err := client.NewInProcessClientWithOptions(srv, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = protocol
	init.Params.ClientInfo = mcp.Implementation{Name: "tools-test", Version: "1"}
	if o.elicit != nil {
		init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{}
		if o.caps != nil {
			init.Params.Capabilities.Elicitation = o.caps
		}
	}
	ir, err := c.Initialize(t.Context(), init)
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.c, f.instructions = srv, c, ir.Instructions
	return f
}

// call runs a tool as the fixture's principal and returns its result and
// structured content as JSON.
func (f *fixture) call(t *testing.T, tool string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	return f.callAs(t, f.who, tool, args)
}

// callAs runs a tool as principal who.
func (f *fixture) callAs(t *testing.T, who caller.Identity, tool string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := f.c.CallTool(caller.With(t.Context(), who), req)
	if err != nil {
		t.Fatalf("%s(%v): protocol error %v", tool, args, err)
	}
	var sc map[string]any
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &sc)
	return res, sc
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestToolsListGolden(t *testing.T) {
	for _, pv := range protocolVersions {
		t.Run(pv, func(t *testing.T) {
			f := newFixture(t, pv)
			res, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res.Tools); err != nil {
				t.Fatal(err)
			}
			got := []byte(buf.String())
			golden := filepath.Join("testdata", "tools_list.golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
				t.Errorf("tools/list changed; if intended, run go test ./tools -run TestToolsListGolden -update\n%s", got)
			}
		})
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// TestToolInvariants holds for every tool, present and future.
func TestToolInvariants(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	res, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) == 0 {
		t.Fatal("no tools")
	}
	for _, tool := range res.Tools {
		t.Run(tool.Name, func(t *testing.T) {
			a := tool.Annotations
			if a.ReadOnlyHint == nil || a.DestructiveHint == nil || a.IdempotentHint == nil || a.OpenWorldHint == nil || a.Title == "" {
				t.Errorf("annotations must set title and all four hints: %+v", a)
			}
			if a.ReadOnlyHint != nil && *a.ReadOnlyHint && a.DestructiveHint != nil && *a.DestructiveHint {
				t.Error("a read-only tool cannot be destructive")
			}
			if !snakeCase.MatchString(tool.Name) {
				t.Errorf("name %q is not snake_case", tool.Name)
			}
			if len(tool.Description) < 100 {
				t.Errorf("description too short for a model: %q", tool.Description)
			}
			var s struct {
				Type                 string                    `json:"type"`
				AdditionalProperties *bool                     `json:"additionalProperties"`
				Properties           map[string]map[string]any `json:"properties"`
			}
			raw, _ := json.Marshal(tool)
			var wire struct {
				InputSchema json.RawMessage `json:"inputSchema"`
			}
			if err := json.Unmarshal(raw, &wire); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(wire.InputSchema, &s); err != nil {
				t.Fatal(err)
			}
			if s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties {
				t.Errorf("input schema must be an object refusing unknown properties: %s", wire.InputSchema)
			}
			for name, p := range s.Properties {
				if !snakeCase.MatchString(name) {
					t.Errorf("argument %q is not snake_case", name)
				}
				if d, _ := p["description"].(string); len(d) < 10 {
					t.Errorf("argument %q has no useful description", name)
				}
			}
		})
	}
}
