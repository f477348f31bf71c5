package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/apps"
	"github.com/incident-mcp/incident-mcp/internal/browsertest"
)

// appsHost bundles test/clients/apps-host (a minimal MCP Apps host on
// @modelcontextprotocol/ext-apps' AppBridge) with the pinned esbuild and
// returns the directory to serve. Without `npm ci` in test/clients the test
// is skipped, except under CI.
func appsHost(t *testing.T) string {
	t.Helper()
	clients, err := filepath.Abs("../../test/clients")
	if err != nil {
		t.Fatal(err)
	}
	esbuild := filepath.Join(clients, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("test/clients has no node_modules: run npm ci there")
		}
		t.Skip("test/clients has no node_modules (npm ci there)")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), esbuild, "apps-host/host.mjs", "--bundle", "--format=esm", "--log-level=warning", "--outfile="+filepath.Join(dir, "host.js"))
	cmd.Dir = clients
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	page, err := os.ReadFile(filepath.Join(clients, "apps-host", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshotDir is $APPS_SCREENSHOTS when set (CI keeps it as an
// artifact), else the test's temp dir.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("APPS_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// viewsClient is a Go client of p that declares MCP Apps, to compare what
// the views show with what the tools answer.
func viewsClient(t *testing.T, p *httpProc) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(p.url + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-06-18"
	init.Params.ClientInfo = mcp.Implementation{Name: "apps-e2e", Version: "1"}
	init.Params.Capabilities.Extensions = map[string]any{apps.Extension: map[string]any{}}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	return c
}

func pageOf(t *testing.T, v any) (ids, severities []string) {
	t.Helper()
	b, _ := json.Marshal(v)
	var p struct {
		Incidents []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	for _, inc := range p.Incidents {
		ids = append(ids, inc.ID)
		severities = append(severities, inc.Severity)
	}
	return ids, severities
}

// TestAppsInBrowser renders the views in headless Chromium inside a host
// page built on @modelcontextprotocol/ext-apps, connected to the built
// binary: the table shows the incidents of the tool result, sorting and
// paging go through the app-only tools and match what those tools answer,
// a row opens get_incident's data, vendor text stays text with invisible
// characters shown, and the change view shows update_incident's diff.
func TestAppsInBrowser(t *testing.T) {
	b := browsertest.New(t, browsertest.InProcessFrames)
	hostDir := appsHost(t)
	p := startHTTP(t, "")
	target, _ := url.Parse(p.url)
	mux := http.NewServeMux()
	mux.Handle("/mcp", httputil.NewSingleHostReverseProxy(target))
	mux.Handle("/", http.FileServer(http.Dir(hostDir)))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	shots := screenshotDir(t)
	gc := viewsClient(t, p)
	call := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := gc.CallTool(t.Context(), req)
		if err != nil || res.IsError {
			t.Fatalf("%s(%v): %v %+v", name, args, err, res)
		}
		return res
	}
	rows := func() []string {
		return browsertest.FrameEval[[]string](b, `[...document.querySelectorAll("#rows tr")].map(r => r.dataset.id)`)
	}
	lastCall := func() map[string]any {
		return browsertest.Eval[map[string]any](b, `host.calls[host.calls.length-1]`)
	}

	b.Resize(1100, 900)
	b.Open(hs.URL)
	b.WaitFor("the host script", `typeof window.host === "object"`)
	names := browsertest.Eval[[]string](b, `host.connect()`)
	for _, n := range []string{"list_incidents", "incidents_view_page", "incidents_view_counts"} {
		if !slices.Contains(names, n) {
			t.Fatalf("tools/list for a view host: %v lacks %s", names, n)
		}
	}

	// The table shows the tool result's page.
	result := browsertest.Eval[map[string]any](b, `host.run("list_incidents", {"instance": "eset", "min_severity": "medium"})`)
	meta, _ := result["_meta"].(map[string]any)
	want, _ := pageOf(t, meta[apps.PageMetaKey])
	if len(want) == 0 {
		t.Fatalf("no page in the result's _meta: %v", result)
	}
	b.WaitInFrame("the table", `document.querySelectorAll("#rows tr").length > 0`)
	if got := rows(); !slices.Equal(got, want) {
		t.Fatalf("table rows %v\nwant the tool result's %v", got, want)
	}
	chips := browsertest.FrameEval[string](b, `document.getElementById("chips").textContent`)
	for _, w := range []string{"instance: eset", "severities: medium, high, critical"} {
		if !strings.Contains(chips, w) {
			t.Errorf("filter chips %q lack %q", chips, w)
		}
	}
	b.WaitInFrame("the counts", `document.getElementById("counts").textContent.includes("severity:")`)
	if c := lastCall(); c["name"] != "incidents_view_counts" {
		t.Errorf("counts came from %v, want incidents_view_counts", c)
	}
	b.Screenshot(shots, "incident-table")

	// Sorting by severity asks the app-only page tool, and the table shows
	// what that tool answers.
	browsertest.FrameEval[bool](b, `document.querySelector('th button[data-sort="severity"]').click(), true`)
	b.WaitInFrame("the sorted page", `document.querySelector('th button[data-sort="severity"]').getAttribute("aria-sort") === "descending"`)
	sorted := lastCall()
	args, _ := sorted["arguments"].(map[string]any)
	if sorted["name"] != "incidents_view_page" || args["order_by"] != "severity desc" {
		t.Fatalf("sort called %v", sorted)
	}
	wantSorted, sevs := pageOf(t, call("incidents_view_page", args).StructuredContent)
	if got := rows(); !slices.Equal(got, wantSorted) {
		t.Errorf("sorted rows %v\nwant %v", got, wantSorted)
	}
	if !slices.IsSortedFunc(sevs, func(a, b string) int { return rank(b) - rank(a) }) {
		t.Errorf("severities not descending: %v", sevs)
	}

	// Next page: the same tool with the cursor.
	browsertest.FrameEval[bool](b, `document.getElementById("next").click(), true`)
	b.WaitInFrame("page 2", `document.getElementById("status").textContent === "page 2"`)
	next := lastCall()
	nargs, _ := next["arguments"].(map[string]any)
	if next["name"] != "incidents_view_page" || nargs["cursor"] == nil || nargs["order_by"] != "severity desc" {
		t.Fatalf("next called %v", next)
	}
	wantNext, _ := pageOf(t, call("incidents_view_page", nargs).StructuredContent)
	if got := rows(); !slices.Equal(got, wantNext) || slices.Equal(wantNext, wantSorted) {
		t.Errorf("page 2 rows %v\nwant %v (page 1 %v)", got, wantNext, wantSorted)
	}

	// A row opens the incident as get_incident returns it.
	first := rows()[0]
	browsertest.FrameEval[bool](b, `document.querySelector("#rows tr").click(), true`)
	b.WaitInFrame("the detail", `document.querySelector("#detail h2") !== null`)
	var inc struct{ Title, Description string }
	sc, _ := json.Marshal(call("get_incident", map[string]any{"id": first}).StructuredContent)
	json.Unmarshal(sc, &inc)
	if got := browsertest.FrameEval[string](b, `document.querySelector("#detail h2").textContent`); got != inc.Title {
		t.Errorf("detail title %q, want %q", got, inc.Title)
	}
	if c := lastCall(); c["name"] != "get_incident" {
		t.Errorf("row opened %v", c)
	}
	b.Screenshot(shots, "incident-table-detail")

	// Vendor text is text: markup stays literal, bidi and zero-width
	// characters show as ⟨U+…⟩.
	hostile := `{"incidents":[{"id":"eset:x1","title":"<img src=x onerror=alert(1)>pay\u202Eexe.pdf\u200B","severity":"high","status":"open"}],"has_more":false,"query":{"instance":"eset","filter":{},"order_by":"created_at desc"}}`
	browsertest.Eval[bool](b, `host.show("`+apps.IncidentsURI+`", {}, {content: [], structuredContent: `+hostile+`}).then(() => true)`)
	b.WaitInFrame("the hostile row", `document.querySelectorAll("#rows tr").length === 1`)
	title := browsertest.FrameEval[string](b, `document.querySelector("#rows td.title").textContent`)
	if title != "<img src=x onerror=alert(1)>pay⟨U+202E⟩exe.pdf⟨U+200B⟩" {
		t.Errorf("hostile title shown as %q", title)
	}
	if n := browsertest.FrameEval[int](b, `document.querySelectorAll("img").length`); n != 0 {
		t.Errorf("vendor markup became %d elements", n)
	}
	b.Screenshot(shots, "incident-table-hostile")

	// The change view shows update_incident's field-by-field diff.
	upd := browsertest.Eval[map[string]any](b, `host.run("update_incident", {"id": "`+first+`", "severity": "low", "comment": "triaged"})`)
	b.WaitInFrame("the change view", `!document.getElementById("state").textContent.startsWith("Waiting")`)
	updSC, _ := json.Marshal(upd["structuredContent"])
	var changes struct {
		Preview struct{ Changes []struct{ Field string } } `json:"preview"`
		Changes []struct{ Field string }                   `json:"changes"`
	}
	json.Unmarshal(updSC, &changes)
	fields := browsertest.FrameEval[[]string](b, `[...document.querySelectorAll("#rows td.field")].map(e => e.textContent)`)
	var wantFields []string
	for _, c := range append(changes.Preview.Changes, changes.Changes...) {
		wantFields = append(wantFields, c.Field)
	}
	if len(wantFields) == 0 || !slices.Equal(fields, wantFields) {
		t.Errorf("change view fields %v, want %v from %s", fields, wantFields, updSC)
	}
	if head := browsertest.FrameEval[string](b, `document.getElementById("head").textContent`); !strings.Contains(head, first) {
		t.Errorf("change view heading %q does not name %s", head, first)
	}
	b.Screenshot(shots, "change-view")
	t.Logf("screenshots in %s", shots)
}

func rank(sev string) int {
	return slices.Index([]string{"informational", "low", "medium", "high", "critical"}, sev)
}
