package eset

import (
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/incident-mcp/incident-mcp/schema"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func crit(t *testing.T, f schema.Filter) schema.Criteria {
	t.Helper()
	c, err := f.Resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter schema.Filter
		want   string
		exact  bool
		skip   bool
	}{
		{"nothing", schema.Filter{}, "", true, false},
		{"one status", schema.Filter{Status: []string{"open"}}, "status == INCIDENT_STATUS_OPEN", true, false},
		{"statuses", schema.Filter{Status: []string{"open", "on_hold"}}, "status in [INCIDENT_STATUS_OPEN, INCIDENT_STATUS_WAITING_FOR_INPUT]", true, false},
		{"resolved only: ESET has none", schema.Filter{Status: []string{"resolved"}}, "", true, true},
		{"min severity high drops critical", schema.Filter{MinSeverity: "high"}, "severity == INCIDENT_SEVERITY_LEVEL_HIGH", true, false},
		{"critical only: ESET has none", schema.Filter{Severity: []string{"critical"}}, "", true, true},
		{"every ESET severity is no filter", schema.Filter{MinSeverity: "informational"}, "", true, false},
		{"created window widens the exclusive end", schema.Filter{CreatedAfter: "2026-11-01", CreatedBefore: "2026-11-02"},
			`create_time >= timestamp("2026-11-01T00:00:00Z") && create_time <= timestamp("2026-11-02T00:00:00Z")`, false, false},
		{"relative time", schema.Filter{UpdatedAfter: "3d"}, `update_time >= timestamp("2026-11-17T12:00:00Z")`, true, false},
		{"title without case is exact", schema.Filter{TitleContains: "10.0.0.1"}, `display_name.contains("10.0.0.1")`, true, false},
		{"title with letters pushes its caseless run", schema.Filter{TitleContains: "cmd.exe /c 1234"}, `display_name.contains(" 1234")`, false, false},
		{"injection stays a literal", schema.Filter{TitleContains: `x") || true || ("`}, `display_name.contains("\") || ")`, false, false},
		{"title with no caseless run stays local", schema.Filter{TitleContains: "ransomware"}, "", false, false},
		{"assignee", schema.Filter{Assignee: `u"1\`}, `assignee_uuid == "u\"1\\"`, true, false},
		{"unassigned is local", schema.Filter{Assignee: "unassigned"}, "", false, false},
		{"non-ASCII is escaped", schema.Filter{Assignee: "Überwachung\u2028😀"}, `assignee_uuid == "\u00dcberwachung\u2028\U0001f600"`, true, false},
		{"ids", schema.Filter{IDs: []string{"eset:a", "eset:b"}}, `uuid in ["eset:a", "eset:b"]`, true, false},
		{"one tag", schema.Filter{Tags: []string{"pii"}}, `"pii" in tags`, true, false},
		{"any of two tags is local", schema.Filter{Tags: []string{"pii", "x"}}, "", false, false},
		{"one device", schema.Filter{DeviceIDs: []string{"d-1"}}, `"d-1" in device_uuids`, true, false},
		{"tenant: ESET has none", schema.Filter{Tenant: "t"}, "", true, true},
		{"policy: ESET has none", schema.Filter{PolicyIDs: []string{"p"}}, "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(crit(t, tc.filter), schema.DefaultOrder, now)
			if got.filter != tc.want || got.exact != tc.exact || got.skip != tc.skip {
				t.Errorf("translate(%+v)\n got %q exact=%v skip=%v\nwant %q exact=%v skip=%v", tc.filter, got.filter, got.exact, got.skip, tc.want, tc.exact, tc.skip)
			}
			if got.filter != "" {
				checkCEL(t, got.filter)
			}
		})
	}
}

// checkCEL proves a native filter parses as CEL, so that no value escaped its
// literal.
func checkCEL(t *testing.T, filter string) {
	t.Helper()
	env, err := cel.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, iss := env.Parse(filter); iss.Err() != nil {
		t.Errorf("native filter %q does not parse: %v", filter, iss.Err())
	}
}

func TestTranslateFitsLimitMostSelectiveFirst(t *testing.T) {
	f := schema.Filter{
		Status:        []string{"open", "in_progress", "on_hold"},
		MinSeverity:   "medium",
		CreatedAfter:  "2026-11-19T00:00:00Z",
		CreatedBefore: "2026-11-20T00:00:00Z",
		UpdatedAfter:  "2026-11-01T00:00:00Z",
		Assignee:      "5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60",
		IDs:           []string{"eset:" + strings.Repeat("a", 36)},
	}
	got := translate(crit(t, f), schema.DefaultOrder, now)
	if len(got.filter) > MaxFilterLen {
		t.Fatalf("filter is %d characters: %q", len(got.filter), got.filter)
	}
	if got.exact {
		t.Error("a filter that dropped terms cannot be exact")
	}
	if !strings.HasPrefix(got.filter, `uuid == "`) {
		t.Errorf("the id, the most selective term, should come first: %q", got.filter)
	}
	checkCEL(t, got.filter)
}

func TestStringLit(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:      `"plain"`,
		`"`:          `"\""`,
		`\`:          `"\\"`,
		"a\nb\x00":   `"a\u000ab\u0000"`,
		"\x7f":       `"\u007f"`,
		"日本":         `"\u65e5\u672c"`,
		"\U0001F600": `"\U0001f600"`,
	} {
		if got := stringLit(in); got != want {
			t.Errorf("stringLit(%q) = %s, want %s", in, got, want)
		}
		checkCEL(t, stringLit(in)+` == ""`)
	}
}

func TestOrderBy(t *testing.T) {
	for _, tc := range []struct {
		o    schema.Order
		want string
	}{
		{schema.DefaultOrder, "create_time desc"},
		{schema.Order{Key: schema.OrderUpdatedAt}, "update_time"},
		{schema.Order{Key: schema.OrderSeverity, Desc: true}, "severity desc"},
	} {
		if got, ok := orderBy(tc.o); got != tc.want || !ok {
			t.Errorf("orderBy(%v) = %q, %v; want %q", tc.o, got, ok, tc.want)
		}
	}
}
