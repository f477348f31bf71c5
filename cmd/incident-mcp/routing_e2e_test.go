package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// modernPost sends one request of protocol 2026-07-28 (no session; version
// and capabilities in _meta; method, name and parameters mirrored in
// headers) and returns the JSON-RPC answer.
func modernPost(t *testing.T, url, method, name string, params map[string]any, headers map[string]string) map[string]any {
	t.Helper()
	return modernPostCaps(t, url, method, name, params, map[string]any{}, headers)
}

// modernPostCaps is modernPost from a client with these capabilities.
func modernPostCaps(t *testing.T, url, method, name string, params, caps map[string]any, headers map[string]string) map[string]any {
	t.Helper()
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": caps,
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/mcp", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.SplitSeq(s, "\n") {
			if d, ok := strings.CutPrefix(line, "data:"); ok {
				s = d
			}
		}
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("%s: HTTP %d %q", method, resp.StatusCode, b)
	}
	return out
}

// TestInstanceHeaderRouting: list_incidents' instance travels in
// Mcp-Param-Instance on protocol 2026-07-28, so a gateway can route on it;
// the server refuses a request whose header and body disagree, or whose
// header is missing, and serves one where they agree.
func TestInstanceHeaderRouting(t *testing.T) {
	p := startHTTP(t, "")
	list := modernPost(t, p.url, "tools/list", "", map[string]any{}, nil)
	b, _ := json.Marshal(list)
	if !strings.Contains(string(b), `"x-mcp-header":"Instance"`) {
		t.Fatalf("tools/list has no x-mcp-header on instance: %.300s", b)
	}
	call := func(header map[string]string) map[string]any {
		return modernPost(t, p.url, "tools/call", "list_incidents",
			map[string]any{"name": "list_incidents", "arguments": map[string]any{"instance": "kaspersky", "page_size": 1}}, header)
	}
	for name, h := range map[string]map[string]string{
		"header names another instance": {"Mcp-Param-Instance": "eset"},
		"header missing":                nil,
	} {
		resp := call(h)
		e, _ := resp["error"].(map[string]any)
		if e == nil || e["code"] != float64(-32020) {
			t.Errorf("%s: want error -32020 (header mismatch), got %v", name, resp)
		}
	}
	ok := call(map[string]string{"Mcp-Param-Instance": "kaspersky"})
	res, _ := ok["result"].(map[string]any)
	if res == nil || res["isError"] == true {
		t.Fatalf("header and body agree: %v", ok)
	}
	if sc, _ := json.Marshal(res["structuredContent"]); !strings.Contains(string(sc), `"instance":"kaspersky"`) {
		t.Errorf("answer is not kaspersky's: %.300s", sc)
	}
}

// TestListCacheScope: list results say how long they may be cached, and
// that only the caller may reuse them once callers authenticate.
func TestListCacheScope(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("soc-bot 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f\n"), 0o600)
	for _, tc := range []struct {
		args    []string
		headers map[string]string
		scope   string
	}{
		{nil, nil, "public"},
		{[]string{"--http-tokens-file", tokens}, map[string]string{"Authorization": "Bearer 5f2b8c1e9d7a4b3c6e0f1a2b3c4d5e6f"}, "private"},
	} {
		p := startHTTP(t, "", tc.args...)
		for _, m := range []string{"tools/list", "prompts/list", "resources/list"} {
			res, _ := modernPost(t, p.url, m, "", map[string]any{}, tc.headers)["result"].(map[string]any)
			if res["ttlMs"] != float64(300000) || res["cacheScope"] != tc.scope {
				t.Errorf("%v %s: ttlMs %v cacheScope %v, want 300000 %s", tc.args, m, res["ttlMs"], res["cacheScope"], tc.scope)
			}
		}
	}
}

// TestNoApps: --no-apps leaves every client with today's results: no view
// on any tool, no app-only tools, no view resources.
func TestNoApps(t *testing.T) {
	ui := map[string]any{"extensions": map[string]any{"io.modelcontextprotocol/ui": map[string]any{}}}
	for _, tc := range []struct {
		args  []string
		views bool
	}{{nil, true}, {[]string{"--no-apps"}, false}} {
		p := startHTTP(t, "", tc.args...)
		list := modernPostCaps(t, p.url, "tools/list", "", map[string]any{}, ui, nil)
		b, _ := json.Marshal(list)
		if got := strings.Contains(string(b), "ui://incident-mcp/incidents") && strings.Contains(string(b), "incidents_view_page"); got != tc.views {
			t.Errorf("%v: views offered %v, want %v", tc.args, got, tc.views)
		}
	}
}
