package tools_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/tools"
)

// TestLeanListRecords: a list record carries what a model needs and no
// more (at most 60 % of ESET's own record, on average over a page), while
// get_incident stays complete.
func TestLeanListRecords(t *testing.T) {
	f := newFixture(t, protocolVersions[1])
	_, sc := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 100, "order_by": "created_at asc"})
	incs, _ := sc["incidents"].([]any)
	if len(incs) != 100 {
		t.Fatalf("%d incidents", len(incs))
	}
	lean, _ := json.Marshal(incs)
	raw := esetRawPage(t, f.env.URLs["eset"], 100)
	if ratio := float64(len(lean)) / float64(len(raw)); ratio > 0.60 {
		t.Errorf("list records are %.0f %% of ESET's raw records (%d of %d bytes), the budget is 60 %%", 100*ratio, len(lean), len(raw))
	} else {
		t.Logf("list records are %.0f %% of ESET's raw records (%d of %d bytes)", 100*ratio, len(lean), len(raw))
	}
	for _, x := range incs {
		inc := x.(map[string]any)
		for _, k := range []string{"vendor", "instance", "vendor_severity", "vendor_status"} {
			if _, ok := inc[k]; ok {
				t.Fatalf("list record has %q: %v", k, inc)
			}
		}
	}
	_, got := f.call(t, tools.GetIncident, map[string]any{"id": incs[0].(map[string]any)["id"]})
	for _, k := range []string{"vendor", "instance", "vendor_severity", "vendor_status"} {
		if s, _ := got[k].(string); s == "" {
			t.Errorf("get_incident lacks %q: %v", k, got)
		}
	}
}

// esetRawPage is the "incidents" array of ESET's first page, as the API sends it.
func esetRawPage(t *testing.T, base string, n int) json.RawMessage {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v2/incidents?pageSize="+itoa(n), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page struct {
		Incidents json.RawMessage `json:"incidents"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Incidents) == 0 {
		t.Fatalf("ESET page: %v %s", err, body[:min(len(body), 200)])
	}
	return page.Incidents
}

// TestListTextEchoesArguments: the text result names every applied
// argument and shows the native request as the vendor gets it.
func TestListTextEchoesArguments(t *testing.T) {
	f := newFixture(t, protocolVersions[1])
	res, _ := f.call(t, tools.ListIncidents, map[string]any{
		"instance": "eset", "min_severity": "medium", "status": []string{"open", "in_progress"}, "tags": []string{"pii"},
		"assignee": "unassigned", "title_contains": "on", "created_after": "30d", "explain": true,
	})
	txt := text(res)
	for _, want := range []string{"severity=medium,high,critical", "status=open,in_progress", "tags=pii", "assignee=unassigned",
		`title_contains="on"`, "created_after=2026-10-21T12:00:00Z", `"filter":"`, ">="} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
	if strings.Contains(txt, `\u003e`) || strings.Count(txt, "native request") != 1 {
		t.Errorf("the native request is HTML-escaped or repeated:\n%s", txt)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
