package tools_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/tools"
)

func TestListBadInput(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	_, first := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 2})
	cursor, _ := first["next_cursor"].(string)
	if cursor == "" {
		t.Fatal("no cursor on the first page")
	}
	tampered := []byte(cursor)
	tampered[len(tampered)/3] ^= 1
	for _, tc := range []struct {
		name string
		args map[string]any
		want []string // substrings of the error text
	}{
		{"unknown argument", map[string]any{"instance": "eset", "severty": "high"}, []string{"severty", "unknown argument", "min_severity"}},
		{"unknown severity", map[string]any{"instance": "eset", "severity": []string{"urgent"}}, []string{"severity", `"urgent"`, `"critical"`}},
		{"wrong type", map[string]any{"instance": "eset", "severity": "high"}, []string{"severity", "expected"}},
		{"bad time", map[string]any{"instance": "eset", "created_after": "last tuesday"}, []string{"created_after", "RFC 3339", "7d"}},
		{"unknown instance", map[string]any{"instance": "qradar"}, []string{"instance", "qradar", "eset"}},
		{"page size", map[string]any{"instance": "eset", "page_size": 500}, []string{"page_size", "100"}},
		{"page size zero", map[string]any{"instance": "eset", "page_size": 0}, []string{"page_size", "got 0"}},
		{"page size negative", map[string]any{"instance": "eset", "page_size": -1}, []string{"page_size", "got -1"}},
		{"zero time as a bound", map[string]any{"instance": "eset", "created_before": "0001-01-01T00:00:00Z"}, []string{"created_before", "outside"}},
		{"age past 1970", map[string]any{"instance": "eset", "created_after": "200000d"}, []string{"created_after", "1970"}},
		{"where bad regex", map[string]any{"instance": "eset", "where": `incident.title.matches("(")`}, []string{"where", "missing closing"}},
		{"where regex from a field", map[string]any{"instance": "eset", "where": "incident.title.matches(incident.description)"}, []string{"where", "string literal"}},
		{"where runtime error", map[string]any{"instance": "eset", "where": "incident.counts.devices / (incident.counts.devices - incident.counts.devices) > 0"}, []string{"where", "division by zero", "eset:", "column"}},
		{"where syntax", map[string]any{"instance": "eset", "where": "incident.severity >="}, []string{"where", "Syntax error"}},
		{"where unknown field", map[string]any{"instance": "eset", "where": "incident.hostname == 'x'"}, []string{"where", "hostname", "valid fields", "devices"}},
		{"where bad enum", map[string]any{"instance": "eset", "where": "incident.status == 'new'"}, []string{"where", `"new"`, `"open"`}},
		{"where severity string", map[string]any{"instance": "eset", "where": "incident.severity == 'high'"}, []string{"where", "HIGH"}},
		{"where not bool", map[string]any{"instance": "eset", "where": "incident.title"}, []string{"where", "bool"}},
		{"where too costly", map[string]any{"instance": "eset", "where": "incident.tags.exists(a, incident.tags.exists(b, incident.tags.exists(c, a + b + c == 'x')))"}, []string{"where", "costly"}},
		{"tampered cursor", map[string]any{"instance": "eset", "page_size": 2, "cursor": string(tampered)}, []string{"cursor", "not valid", "leave cursor out"}},
		{"garbage cursor", map[string]any{"instance": "eset", "cursor": "abc"}, []string{"cursor", "not valid"}},
		{"cursor of another query", map[string]any{"instance": "eset", "page_size": 2, "status": []string{"open"}, "cursor": cursor}, []string{"cursor", "different query"}},
		{"bad id", map[string]any{"instance": "eset", "ids": []string{"123"}}, []string{"ids", "<instance>:<native id>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, sc := f.call(t, tools.ListIncidents, tc.args)
			if !res.IsError {
				t.Fatalf("want isError, got %s", text(res))
			}
			msg := text(res)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error text lacks %q:\n%s", w, msg)
				}
			}
			if e, _ := sc["error"].(map[string]any); e["code"] != string(schema.CodeInvalidArgument) {
				t.Errorf("structured error = %v, want code invalid_argument", sc)
			}
		})
	}
}

func TestGetIncident(t *testing.T) {
	f := newFixture(t, protocolVersions[1])
	_, page := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "page_size": 1})
	inc := page["incidents"].([]any)[0].(map[string]any)
	id := inc["id"].(string)
	res, got := f.call(t, tools.GetIncident, map[string]any{"id": id})
	if res.IsError || got["id"] != id || got["title"] != inc["title"] {
		t.Fatalf("get_incident(%s) = %v", id, text(res))
	}
	if _, ok := got["raw"]; ok {
		t.Error("raw returned without include_raw")
	}
	if devs, _ := got["devices"].([]any); len(devs) == 0 {
		t.Error("get should carry the devices that ESET lists omit")
	}
	_, withRaw := f.call(t, tools.GetIncident, map[string]any{"id": id, "include_raw": true})
	if withRaw["raw"] == nil {
		t.Error("include_raw returned no raw record")
	}
	for _, tc := range []struct {
		id   string
		code schema.Code
	}{
		{"eset:00000000-0000-4000-8000-000000000000", schema.CodeNotFound},
		{"nope", schema.CodeInvalidArgument},
		{"qradar:1", schema.CodeInvalidArgument},
	} {
		res, sc := f.call(t, tools.GetIncident, map[string]any{"id": tc.id})
		if e, _ := sc["error"].(map[string]any); !res.IsError || e["code"] != string(tc.code) {
			t.Errorf("get_incident(%s) = %s, want %s", tc.id, text(res), tc.code)
		}
	}
}

// TestTitleInjection: a title_contains value built to break out of ESET's
// filter string stays a literal.
func TestTitleInjection(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	needle := `x") || true || ("`
	all := listAll(t, f, map[string]any{"instance": "eset", "title_contains": needle})
	if len(all) == 0 {
		t.Fatal("the dataset has a title with that text; none found")
	}
	for _, inc := range all {
		if !filter.ContainsFold(inc["title"].(string), needle) {
			t.Errorf("%s: title %q does not contain %q", inc["id"], inc["title"], needle)
		}
	}
	total := len(listAll(t, f, map[string]any{"instance": "eset"}))
	if len(all) >= total {
		t.Errorf("the filter kept %d of %d incidents", len(all), total)
	}
}

// TestLongFilter: more criteria than fit in ESET's 200 characters still give
// exactly the right set.
func TestLongFilter(t *testing.T) {
	f := newFixture(t, protocolVersions[0])
	args := map[string]any{
		"instance": "eset", "status": []string{"open", "in_progress", "on_hold"}, "min_severity": "medium",
		"created_after": "60d", "created_before": "2026-11-19T00:00:00Z", "updated_after": "50d", "updated_before": "1d",
		"title_contains": "on", "page_size": 7,
	}
	_, plan := f.call(t, tools.ListIncidents, map[string]any{"instance": "eset", "explain": true, "status": args["status"], "min_severity": "medium",
		"created_after": "60d", "created_before": "2026-11-19T00:00:00Z", "updated_after": "50d", "updated_before": "1d", "title_contains": "on"})
	native := plan["query"].(map[string]any)["native_request"].(map[string]any)["filter"].(string)
	if len(native) > 200 {
		t.Fatalf("native filter of %d characters", len(native))
	}
	got := ids(listAll(t, f, args))
	want := ids(listAll(t, f, map[string]any{"instance": "eset", "where": `incident.status in [OPEN, IN_PROGRESS, ON_HOLD] && incident.severity >= MEDIUM &&
		incident.created_at >= now - duration("1440h") && incident.created_at < timestamp("2026-11-19T00:00:00Z") &&
		incident.updated_at >= now - duration("1200h") && incident.updated_at < now - duration("24h") && incident.title.icontains("on")`}))
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
		t.Errorf("structured arguments gave %d incidents, the same filter in where gave %d", len(got), len(want))
	}
}

// listAll pages through list_incidents to the end.
func listAll(t *testing.T, f *fixture, args map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	a := map[string]any{}
	for k, v := range args {
		a[k] = v
	}
	for range 1000 {
		res, sc := f.call(t, tools.ListIncidents, a)
		if res.IsError {
			t.Fatalf("list_incidents(%v): %s", a, text(res))
		}
		for _, inc := range sc["incidents"].([]any) {
			out = append(out, inc.(map[string]any))
		}
		if sc["has_more"] != true {
			if sc["next_cursor"] != nil {
				t.Fatal("next_cursor without has_more")
			}
			return out
		}
		a["cursor"] = sc["next_cursor"]
	}
	t.Fatal("more than 1000 pages")
	return nil
}

func ids(incs []map[string]any) []string {
	out := make([]string, len(incs))
	for i, inc := range incs {
		out[i] = inc["id"].(string)
	}
	return out
}
