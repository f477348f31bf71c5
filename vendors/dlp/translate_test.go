package dlp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func crit(t *testing.T, f schema.Filter) schema.Criteria {
	t.Helper()
	c, err := f.Resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	// The service hands drivers native ids.
	for i, id := range c.IDs {
		_, c.IDs[i], _ = schema.SplitID(id)
	}
	return c
}

func testDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(Config{BaseURL: "https://tenant.cyberhaven.io", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPlan: criteria in, the list request body out.
func TestPlan(t *testing.T) {
	const sortNewest = `,"page_size":100,"sort_by":"created_at","sort_order":"desc"}`
	for _, tc := range []struct {
		name   string
		filter schema.Filter
		want   string // the JSON body; "" when the plan skips the call
		exact  bool
		pushed string
	}{
		{"nothing", schema.Filter{}, `{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, true, ""},
		{"severities in vendor order", schema.Filter{Severity: []string{"critical", "high"}},
			`{"filters":{"severity":["high","critical"]}` + sortNewest, true, "severity"},
		{"min severity", schema.Filter{MinSeverity: "medium"},
			`{"filters":{"severity":["medium","high","critical"]}` + sortNewest, true, "severity"},
		{"every severity is no filter", schema.Filter{MinSeverity: "informational"}, `{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, true, ""},
		{"in_progress is investigating", schema.Filter{Status: []string{"in_progress", "open"}},
			`{"filters":{"status":["open","investigating"]}` + sortNewest, true, "status"},
		{"on_hold with others drops on_hold", schema.Filter{Status: []string{"on_hold", "closed"}},
			`{"filters":{"status":["closed"]}` + sortNewest, true, "status"},
		{"on_hold alone skips: never an empty array", schema.Filter{Status: []string{"on_hold"}}, "", true, ""},
		{"every status is no filter", schema.Filter{Status: []string{"open", "in_progress", "on_hold", "resolved", "closed"}},
			`{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, true, ""},
		{"contradiction skips", schema.Filter{Severity: []string{"low"}, MinSeverity: "high"}, "", true, ""},
		{"tenant skips: DLP has none", schema.Filter{Tenant: "acme"}, "", true, ""},
		{"ids", schema.Filter{IDs: []string{"dlp:incident-1", "dlp:incident-2"}},
			`{"filters":{"incident_ids":["incident-1","incident-2"]}` + sortNewest, true, "ids"},
		{"lists map 1:1", schema.Filter{PolicyIDs: []string{"policy-101"}, DeviceIDs: []string{"endpoint-7"}, UserIDs: []string{"user-1", "user-2"}, Tags: []string{"pii", "usb"}},
			`{"filters":{"policy_ids":["policy-101"],"endpoint_ids":["endpoint-7"],"user_ids":["user-1","user-2"],"tags":["pii","usb"]}` + sortNewest,
			true, "policy_ids device_ids user_ids tags"},
		{"created window widened by a second each side", schema.Filter{CreatedAfter: "2026-11-01", CreatedBefore: "2026-11-02"},
			`{"filters":{"created_after":"2026-10-31T23:59:59Z","created_before":"2026-11-02T00:00:01Z"}` + sortNewest, false, "created_after created_before"},
		{"fractional bounds round outward", schema.Filter{CreatedAfter: "2026-11-01T08:00:00.5Z", CreatedBefore: "2026-11-01T09:00:00.25Z"},
			`{"filters":{"created_after":"2026-11-01T07:59:59Z","created_before":"2026-11-01T09:00:02Z"}` + sortNewest, false, "created_after created_before"},
		{"relative time", schema.Filter{CreatedAfter: "3d"},
			`{"filters":{"created_after":"2026-11-17T11:59:59Z"}` + sortNewest, false, "created_after"},
		{"title is local", schema.Filter{TitleContains: `x") || true`}, `{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, false, ""},
		{"assignee is local", schema.Filter{Assignee: "alice@company.com", Severity: []string{"high"}},
			`{"filters":{"severity":["high"]}` + sortNewest, false, "severity"},
		{"unassigned is local", schema.Filter{Assignee: "unassigned"}, `{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, false, ""},
		{"updated is local", schema.Filter{UpdatedAfter: "1d", UpdatedBefore: "1h"}, `{"page_size":100,"sort_by":"created_at","sort_order":"desc"}`, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := testDriver(t).Plan(driver.Query{Criteria: crit(t, tc.filter), Order: schema.DefaultOrder, PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Skip != (tc.want == "") {
				t.Fatalf("Skip = %v, want %v", plan.Skip, tc.want == "")
			}
			if plan.Exact != tc.exact {
				t.Errorf("Exact = %v, want %v", plan.Exact, tc.exact)
			}
			if got := strings.Join(plan.Pushed, " "); got != tc.pushed {
				t.Errorf("Pushed = %q, want %q", got, tc.pushed)
			}
			if plan.Skip {
				if plan.Native != nil {
					t.Errorf("a skipped plan echoes a request that is never sent: %+v", plan.Native)
				}
				return
			}
			body, err := json.Marshal(plan.Native)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Errorf("body\n got %s\nwant %s", body, tc.want)
			}
			if strings.Contains(string(body), "[]") {
				t.Errorf("body sends an empty array, which DLP reads as no filter: %s", body)
			}
			if req, _ := json.Marshal(plan.Request); string(req) != string(body) {
				t.Errorf("Native %s differs from the request sent %s", body, req)
			}
		})
	}
}

// TestNeverAnEmptyArray: whatever subset of enums is asked for, the body
// holds no empty array; a set with no DLP value skips instead.
func TestNeverAnEmptyArray(t *testing.T) {
	d := testDriver(t)
	for mask := range 1 << len(schema.Statuses) {
		for sevMask := range 1 << len(schema.Severities) {
			var c schema.Criteria
			for i, s := range schema.Statuses {
				if mask&(1<<i) != 0 {
					c.Statuses = append(c.Statuses, s)
				}
			}
			for i, s := range schema.Severities {
				if sevMask&(1<<i) != 0 {
					c.Severities = append(c.Severities, s)
				}
			}
			plan, _ := d.Plan(driver.Query{Criteria: c, Order: schema.DefaultOrder, PageSize: 10})
			onHoldOnly := len(c.Statuses) == 1 && c.Statuses[0] == schema.StatusOnHold
			if plan.Skip != onHoldOnly {
				t.Fatalf("%v: Skip = %v", c, plan.Skip)
			}
			if body, _ := json.Marshal(plan.Native); strings.Contains(string(body), "[]") {
				t.Fatalf("%v: body %s sends an empty array", c, body)
			}
		}
	}
}

func TestPlanSortPageDetails(t *testing.T) {
	d := testDriver(t)
	for _, tc := range []struct {
		name      string
		q         driver.Query
		sortBy    string
		sortOrder string
		sorted    bool
		size      int
		details   bool
	}{
		{"created desc", driver.Query{Order: schema.DefaultOrder, PageSize: 37}, "created_at", "desc", true, 37, false},
		{"created asc", driver.Query{Order: schema.Order{Key: schema.OrderCreatedAt}, PageSize: 1}, "created_at", "asc", true, 1, false},
		{"severity desc", driver.Query{Order: schema.Order{Key: schema.OrderSeverity, Desc: true}, PageSize: 100}, "severity", "desc", true, 100, false},
		{"updated is not sortable", driver.Query{Order: schema.Order{Key: schema.OrderUpdatedAt, Desc: true}, PageSize: 20}, "created_at", "desc", false, 20, false},
		{"page size capped", driver.Query{Order: schema.DefaultOrder, PageSize: 1000}, "created_at", "desc", true, 100, false},
		{"page size 0 is the maximum", driver.Query{Order: schema.DefaultOrder}, "created_at", "desc", true, 100, false},
		{"fields from lists need no details", driver.Query{Order: schema.DefaultOrder, PageSize: 5, Fields: []string{"severity", "tags", "devices"}}, "created_at", "desc", true, 5, false},
		{"a filter reading everything gets details", driver.Query{Order: schema.DefaultOrder, PageSize: 5, Fields: []string{"*"}}, "created_at", "desc", true, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := d.Plan(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			req := plan.Native.(ListRequest)
			if req.SortBy != tc.sortBy || req.SortOrder != tc.sortOrder || plan.Sorted != tc.sorted ||
				req.PageSize != tc.size || plan.PageSize != tc.size || req.IncludeDetails != tc.details {
				t.Errorf("plan = %+v, request %+v", plan, req)
			}
			if !plan.Sorted && !strings.Contains(plan.Order, "created_at desc") {
				t.Errorf("Order %q must say what order records come in", plan.Order)
			}
		})
	}
	// Info lists exactly the orders whose plans are sorted.
	for _, k := range []schema.OrderKey{schema.OrderCreatedAt, schema.OrderUpdatedAt, schema.OrderSeverity} {
		for _, desc := range []bool{true, false} {
			o := schema.Order{Key: k, Desc: desc}
			plan, _ := d.Plan(driver.Query{Order: o, PageSize: 10})
			if plan.Sorted != slices.Contains(d.Info().Sorts, o) {
				t.Errorf("%s: Sorted = %v, but Info().Sorts = %v", o, plan.Sorted, d.Info().Sorts)
			}
		}
	}
}

func TestPatchRequest(t *testing.T) {
	ptr := func(s string) *string { return &s }
	st := func(s schema.Status) *schema.Status { return &s }
	res := func(r schema.Resolution) *schema.Resolution { return &r }
	sev := schema.SeverityHigh
	for _, tc := range []struct {
		name  string
		patch schema.Patch
		want  string
		code  schema.Code
	}{
		{"close as true positive", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionTruePositive), Comment: ptr("done")},
			`{"status":"closed","close_reason":"valid","close_note":"done"}`, ""},
		{"false positive is mislabeled data", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionFalsePositive)},
			`{"status":"closed","close_reason":"invalid_data_mislabled"}`, ""},
		{"verbatim DLP reason", schema.Patch{Status: st(schema.StatusClosed), Resolution: res("invalid_user_exempt")},
			`{"status":"closed","close_reason":"invalid_user_exempt"}`, ""},
		{"reopen", schema.Patch{Status: st(schema.StatusOpen)}, `{"status":"open"}`, ""},
		{"assign", schema.Patch{Assignee: ptr("alice.nguyen@company.com")}, `{"assigned_to":"alice.nguyen@company.com"}`, ""},
		{"unassign", schema.Patch{Assignee: ptr("")}, `{"assigned_to":""}`, ""},
		{"note on a closed one", schema.Patch{Comment: ptr("more")}, `{"close_note":"more"}`, ""},
		{"title is read-only", schema.Patch{Title: ptr("x"), Status: st(schema.StatusOpen)}, "", schema.CodeUnsupported},
		{"severity is read-only", schema.Patch{Severity: &sev}, "", schema.CodeUnsupported},
		{"description is read-only", schema.Patch{Description: ptr("x")}, "", schema.CodeUnsupported},
		{"no in_progress via the API", schema.Patch{Status: st(schema.StatusInProgress)}, "", schema.CodeUnsupported},
		{"no resolved via the API", schema.Patch{Status: st(schema.StatusResolved)}, "", schema.CodeUnsupported},
		{"no suspicious reason", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionSuspicious)}, "", schema.CodeUnsupported},
		{"closing needs a reason", schema.Patch{Status: st(schema.StatusClosed)}, "", schema.CodeInvalidArgument},
		{"reopen with a comment", schema.Patch{Status: st(schema.StatusOpen), Comment: ptr("why")}, "", schema.CodeUnsupported},
		{"assignee must be an e-mail", schema.Patch{Assignee: ptr("Alice <a@b.c>")}, "", schema.CodeInvalidArgument},
		{"empty patch", schema.Patch{}, "", schema.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := patchRequest(tc.patch)
			if tc.code != "" {
				if schema.CodeOf(err) != tc.code {
					t.Fatalf("error %v (code %s), want code %s", err, schema.CodeOf(err), tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(got); string(b) != tc.want {
				t.Errorf("body %s, want %s", b, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	w := wireIncident{
		ID: "incident-1", Title: "T", Severity: "critical", Status: "investigating",
		PolicyID: "policy-1", PolicyName: "P", EndpointID: "endpoint-1", EndpointName: "E", UserID: "user-1", UserName: "u@c.com",
		CreatedAt: "2024-01-15T10:30:00+02:00", UpdatedAt: "2024-01-15T11:45:00.123Z", Tags: []string{"pii"},
		AssignedTo: "a@c.com", CloseReason: "invalid_other", CloseNote: "dup",
		Details: map[string]any{"risk_score": 85.0, "file_path": "/x", "action": "file_access"},
	}
	got := normalize(&w, true)
	if got.Severity != schema.SeverityCritical || got.Status != schema.StatusInProgress || got.VendorStatus != "investigating" ||
		got.Policy.ID != "policy-1" || got.Devices[0].Name != "E" || got.Users[0].ID != "user-1" || got.Assignee.ID != "a@c.com" ||
		got.Resolution != "invalid_other" || got.CreatedAt != time.Date(2024, 1, 15, 8, 30, 0, 0, time.UTC) ||
		got.UpdatedAt.Location() != time.UTC || got.Details["risk_score"] != 85.0 || got.Details["close_note"] != "dup" {
		t.Errorf("normalize = %+v", got)
	}
	if list := normalize(&w, false); list.Details != nil {
		t.Errorf("list records carry details: %v", list.Details)
	}
	for reason, want := range map[string]schema.Resolution{
		"valid": schema.ResolutionTruePositive, "invalid_data_mislabled": schema.ResolutionFalsePositive,
		"invalid_destination_not_risk": "invalid_destination_not_risk", "": "",
	} {
		if got := resolutionFrom(reason); got != want {
			t.Errorf("resolutionFrom(%q) = %q, want %q", reason, got, want)
		}
	}
	// Every write reason reads back as the resolution that was written.
	for r, reason := range resolutionToDLP {
		if resolutionFrom(reason) != r {
			t.Errorf("%s writes %s, which reads back as %s", r, reason, resolutionFrom(reason))
		}
	}
}
