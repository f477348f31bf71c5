package tools_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/tiktoken-go/tokenizer"

	"github.com/incident-mcp/incident-mcp/apps"
	"github.com/incident-mcp/incident-mcp/tools"
)

var uiCaps = mcp.ClientCapabilities{Extensions: map[string]any{apps.Extension: map[string]any{"mimeTypes": []any{apps.MIMEType}}}}

// viewClient is a second client of f's server that declares MCP Apps.
func viewClient(t *testing.T, f *fixture, protocol string) *client.Client {
	t.Helper()
	c, err := client.NewInProcessClientWithOptions(f.srv, client.WithClientCapabilities(uiCaps))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = protocol
	init.Params.ClientInfo = mcp.Implementation{Name: "view-host", Version: "1"}
	init.Params.Capabilities = uiCaps
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c
}

func callWith(t *testing.T, c *client.Client, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(t.Context(), req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

// modelTokens is what a model reads of a result, counted as evals/ counts:
// the text and the structured copy, o200k_base.
func modelTokens(t *testing.T, res *mcp.CallToolResult) int {
	t.Helper()
	codec, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := json.Marshal(res.StructuredContent)
	n1, _ := codec.Count(text(res))
	n2, _ := codec.Count(string(sc))
	return n1 + n2
}

func toolNames(t *testing.T, c *client.Client) map[string]mcp.Tool {
	t.Helper()
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

func pageIDs(t *testing.T, v any) []string {
	t.Helper()
	b, _ := json.Marshal(v)
	var p struct {
		Incidents []struct {
			ID string `json:"id"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(p.Incidents))
	for i, inc := range p.Incidents {
		ids[i] = inc.ID
	}
	return ids
}

// TestAppsListSummary: a client that renders the table gets a summary for
// the model and the whole page in _meta for the view, at most a quarter of
// the tokens; a client without the extension gets today's result.
func TestAppsListSummary(t *testing.T) {
	for _, protocol := range protocolVersions {
		t.Run(protocol, func(t *testing.T) {
			f := newFixtureTB(t, protocol, setup{tools: tools.Options{Apps: true}})
			vc := viewClient(t, f, protocol)
			for _, args := range []map[string]any{
				{"instance": "eset", "page_size": 20},
				{"page_size": 20}, // every instance, merged
			} {
				plain, _ := f.call(t, tools.ListIncidents, args)
				shown := callWith(t, vc, tools.ListIncidents, args)
				if plain.IsError || shown.IsError {
					t.Fatalf("errors: %s / %s", text(plain), text(shown))
				}
				if plain.Meta != nil && plain.Meta.AdditionalFields[apps.PageMetaKey] != nil {
					t.Error("a client without the extension got the view's page")
				}
				want := pageIDs(t, plain.StructuredContent)
				if len(want) != 20 {
					t.Fatalf("%d incidents on the plain page, want 20", len(want))
				}
				if shown.Meta == nil {
					t.Fatal("no _meta on the result for a view client")
				}
				if got := pageIDs(t, shown.Meta.AdditionalFields[apps.PageMetaKey]); !slices.Equal(got, want) {
					t.Errorf("view page %v, want %v", got, want)
				}
				before, after := modelTokens(t, plain), modelTokens(t, shown)
				t.Logf("%v: model reads %d tokens without the extension, %d with it (%.0f%%)", args, before, after, 100*float64(after)/float64(before))
				if after*4 > before {
					t.Errorf("summary is %d tokens, more than 25%% of %d", after, before)
				}
				sum := text(shown)
				for _, w := range []string{"20 incident(s)", "by severity:", "most severe 5:", "cursor=", "query: now="} {
					if !strings.Contains(sum, w) {
						t.Errorf("summary lacks %q:\n%s", w, sum)
					}
				}
			}
		})
	}
}

// TestAppOnlyTools: the table's own tools are listed and callable only for
// clients that render views, marked app-only; list_incidents and
// update_incident name their views; without Apps nothing of it exists.
func TestAppOnlyTools(t *testing.T) {
	protocol := protocolVersions[0]
	f := newFixtureTB(t, protocol, setup{tools: tools.Options{Apps: true}})
	vc := viewClient(t, f, protocol)

	plain := toolNames(t, f.c)
	for _, n := range []string{tools.ViewIncidentsPage, tools.ViewIncidentsCounts} {
		if _, ok := plain[n]; ok {
			t.Errorf("%s listed for a client without the extension", n)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = n
		if res, err := f.c.CallTool(t.Context(), req); err == nil && !res.IsError {
			t.Errorf("%s callable by a client without the extension", n)
		}
	}
	shown := toolNames(t, vc)
	for _, n := range []string{tools.ViewIncidentsPage, tools.ViewIncidentsCounts} {
		tl, ok := shown[n]
		if !ok {
			t.Fatalf("%s not listed for a view client", n)
		}
		if !apps.IsAppOnly(tl) {
			t.Errorf("%s _meta %+v: not app-only", n, tl.Meta)
		}
	}
	for n, uri := range map[string]string{tools.ListIncidents: apps.IncidentsURI, tools.UpdateIncident: apps.ChangeURI} {
		ui, _ := shown[n].Meta.AdditionalFields["ui"].(map[string]any)
		if ui["resourceUri"] != uri {
			t.Errorf("%s _meta.ui %v, want resourceUri %s", n, ui, uri)
		}
	}

	page := callWith(t, vc, tools.ViewIncidentsPage, map[string]any{"instance": "eset", "page_size": 5, "order_by": "severity desc"})
	if ids := pageIDs(t, page.StructuredContent); len(ids) != 5 {
		t.Errorf("view page: %d incidents, want 5: %s", len(ids), text(page))
	}
	counts := callWith(t, vc, tools.ViewIncidentsCounts, map[string]any{"instance": "eset", "cursor": "ignored", "page_size": 5})
	sc, _ := json.Marshal(counts.StructuredContent)
	if counts.IsError || !strings.Contains(string(sc), `"severity"`) || !strings.Contains(string(sc), `"status"`) {
		t.Errorf("counts: %s", sc)
	}

	off := newFixtureTB(t, protocol, setup{})
	offTools := toolNames(t, viewClient(t, off, protocol))
	if _, ok := offTools[tools.ViewIncidentsPage]; ok {
		t.Error("app-only tool listed with Apps off")
	}
	if offTools[tools.ListIncidents].Meta != nil {
		t.Errorf("list_incidents has _meta with Apps off: %+v", offTools[tools.ListIncidents].Meta)
	}
}

// TestViewResources: each view is served as an MCP Apps resource with a
// CSP in _meta.ui.csp that allows no origin, and its own document pins its
// inline code by hash and loads nothing.
func TestViewResources(t *testing.T) {
	protocol := protocolVersions[0]
	f := newFixtureTB(t, protocol, setup{tools: tools.Options{Apps: true}})
	vc := viewClient(t, f, protocol)
	list, err := vc.ListResources(t.Context(), mcp.ListResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Resources) != 2 {
		t.Fatalf("resources: %+v", list.Resources)
	}
	for _, uri := range []string{apps.IncidentsURI, apps.ChangeURI} {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = uri
		res, err := vc.ReadResource(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		c := res.Contents[0].(mcp.TextResourceContents)
		if c.MIMEType != apps.MIMEType {
			t.Errorf("%s: type %s", uri, c.MIMEType)
		}
		b, _ := json.Marshal(c.Meta)
		if !strings.Contains(string(b), `"csp":{"baseUriDomains":[],"connectDomains":[],"frameDomains":[],"resourceDomains":[]}`) {
			t.Errorf("%s: _meta %s", uri, b)
		}
		policy := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(c.Text)
		if policy == nil || !strings.Contains(policy[1], "default-src 'none'") || !strings.Contains(policy[1], "script-src 'sha256-") || strings.Contains(policy[1], "unsafe") {
			t.Errorf("%s: document policy %v", uri, policy)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "src=\"http", "eval("} {
			if strings.Contains(c.Text, bad) {
				t.Errorf("%s contains %q", uri, bad)
			}
		}
	}
}

// TestListCacheHints: list results carry ttlMs and cacheScope on the
// stateless protocol, private when the wiring says callers differ.
func TestListCacheHints(t *testing.T) {
	for _, private := range []bool{false, true} {
		f := newFixtureTB(t, protocolVersions[1], setup{tools: tools.Options{Apps: true, PrivateLists: private}})
		want := "public"
		if private {
			want = "private"
		}
		for _, method := range []string{"tools/list", "prompts/list", "resources/list"} {
			req := `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
			b, _ := json.Marshal(f.srv.HandleMessage(t.Context(), []byte(req)))
			var resp struct {
				Result struct {
					TTL   *int64 `json:"ttlMs"`
					Scope string `json:"cacheScope"`
				} `json:"result"`
			}
			json.Unmarshal(b, &resp)
			if resp.Result.TTL == nil || *resp.Result.TTL != 300000 || resp.Result.Scope != want {
				t.Errorf("private=%v %s: ttlMs %v cacheScope %q, want 300000 %s: %.200s", private, method, resp.Result.TTL, resp.Result.Scope, want, b)
			}
		}
	}
}
