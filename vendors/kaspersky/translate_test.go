package kaspersky

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const (
	tenantA = "11111111-1111-4111-8111-111111111111"
	tenantB = "22222222-2222-4222-8222-222222222222"
	uuid1   = "aaaaaaaa-0000-4000-8000-000000000001"
	uuid2   = "aaaaaaaa-0000-4000-8000-000000000002"
)

func crit(t *testing.T, f schema.Filter) schema.Criteria {
	t.Helper()
	c, err := f.Resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	// Drivers receive native ids: the service strips the instance.
	for i, id := range c.IDs {
		_, c.IDs[i], _ = schema.SplitID(id)
	}
	return c
}

func testDriver(t *testing.T, tenants ...string) *Driver {
	t.Helper()
	d, err := New(Config{BaseURL: "https://api.xdr.example.com", Token: "tok", Tenants: tenants, Common: descriptor.Common{Now: func() time.Time { return now }}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTranslate is "criteria in, query parameters out": every list
// parameter the plan sends for page 1, with the tenants configured.
func TestTranslate(t *testing.T) {
	both := []string{tenantA, tenantB}
	for _, tc := range []struct {
		name   string
		filter schema.Filter
		fields []string
		want   url.Values // tenantID and page are added: both tenants, page 1
		pushed []string
		exact  bool
		skip   bool
	}{
		{name: "nothing", want: url.Values{}, exact: true},
		{name: "open is new", filter: schema.Filter{Status: []string{"open"}},
			want: url.Values{"status": {"new"}}, pushed: []string{"status"}, exact: true},
		{name: "statuses repeat", filter: schema.Filter{Status: []string{"in_progress", "on_hold", "resolved"}},
			want: url.Values{"status": {"inProgress", "hold"}}, pushed: []string{"status"}, exact: true},
		{name: "every Kaspersky status is no filter", filter: schema.Filter{Status: []string{"open", "in_progress", "on_hold", "closed"}},
			want: url.Values{}, exact: true},
		{name: "resolved only: Kaspersky has none", filter: schema.Filter{Status: []string{"resolved"}}, skip: true, exact: true},
		{name: "severity is local", filter: schema.Filter{Severity: []string{"high", "critical"}}, want: url.Values{}},
		{name: "every Kaspersky severity is no filter", filter: schema.Filter{MinSeverity: "informational"}, want: url.Values{}, exact: true},
		{name: "informational only: Kaspersky has none", filter: schema.Filter{Severity: []string{"informational"}}, skip: true, exact: true},
		{name: "contradiction", filter: schema.Filter{Severity: []string{"low"}, MinSeverity: "high"}, skip: true, exact: true},
		{name: "ids repeat", filter: schema.Filter{IDs: []string{"k:" + uuid1, "k:" + uuid2}},
			want: url.Values{"id": {uuid1, uuid2}}, pushed: []string{"ids"}, exact: true},
		{name: "ids that are no UUID are dropped", filter: schema.Filter{IDs: []string{"k:42", "k:" + uuid2}},
			want: url.Values{"id": {uuid2}}, pushed: []string{"ids"}, exact: true},
		{name: "only ids that are no UUID: nothing can match", filter: schema.Filter{IDs: []string{"k:42"}}, skip: true, exact: true},
		{name: "title is an escaped case-insensitive PCRE", filter: schema.Filter{TitleContains: `a.b*(c)[d]+$`},
			want: url.Values{"name": {`(?i)a\.b\*\(c\)\[d\]\+\$`}}, pushed: []string{"title_contains"}},
		{name: "title without letters is exact", filter: schema.Filter{TitleContains: "10.0.0.1:445"},
			want: url.Values{"name": {`(?i)10\.0\.0\.1\:445`}}, pushed: []string{"title_contains"}, exact: true},
		{name: "title injection stays literal", filter: schema.Filter{TitleContains: `x|.*`},
			want: url.Values{"name": {`(?i)x\|\.\*`}}, pushed: []string{"title_contains"}},
		{name: "created window widened to whole seconds", filter: schema.Filter{CreatedAfter: "2026-11-01T08:00:00.250Z", CreatedBefore: "2026-11-02"},
			want:   url.Values{"timestampField": {"createdAt"}, "from": {"2026-11-01T07:59:59Z"}, "to": {"2026-11-02T00:00:01Z"}},
			pushed: []string{"created_after", "created_before"}},
		{name: "relative after only", filter: schema.Filter{UpdatedAfter: "3d"},
			want: url.Values{"timestampField": {"updatedAt"}, "from": {"2026-11-17T11:59:59Z"}}, pushed: []string{"updated_after"}},
		{name: "the narrower window wins: updated", filter: schema.Filter{CreatedAfter: "30d", UpdatedAfter: "2d"},
			want: url.Values{"timestampField": {"updatedAt"}, "from": {"2026-11-18T11:59:59Z"}}, pushed: []string{"updated_after"}},
		{name: "the narrower window wins: created", filter: schema.Filter{CreatedAfter: "1d", UpdatedBefore: "2026-11-19"},
			want: url.Values{"timestampField": {"createdAt"}, "from": {"2026-11-19T11:59:59Z"}}, pushed: []string{"created_after"}},
		{name: "assignee is local", filter: schema.Filter{Assignee: "u-1"}, want: url.Values{}},
		{name: "unassigned is local", filter: schema.Filter{Assignee: "unassigned"}, want: url.Values{}},
		{name: "device filter asks for assets", filter: schema.Filter{DeviceIDs: []string{"h-1"}},
			want: url.Values{"withAffected": {"true"}}},
		{name: "user filter asks for assets", filter: schema.Filter{UserIDs: []string{"u-1"}},
			want: url.Values{"withAffected": {"true"}}},
		{name: "fields that read devices ask for assets", fields: []string{"devices", "severity"},
			want: url.Values{"withAffected": {"true"}}, exact: true},
		{name: "fields that read all ask for assets", fields: []string{"*"},
			want: url.Values{"withAffected": {"true"}}, exact: true},
		{name: "other fields do not", fields: []string{"severity", "title"}, want: url.Values{}, exact: true},
		{name: "tags: Kaspersky has none", filter: schema.Filter{Tags: []string{"pii"}}, skip: true, exact: true},
		{name: "policy: Kaspersky has none", filter: schema.Filter{PolicyIDs: []string{"p"}}, skip: true, exact: true},
		{name: "tenant narrows tenantID", filter: schema.Filter{Tenant: tenantB},
			want: url.Values{"tenantID": {tenantB}}, pushed: []string{"tenant"}, exact: true},
		{name: "combined", filter: schema.Filter{Status: []string{"open", "in_progress"}, IDs: []string{"k:" + uuid1}, TitleContains: "Mimikatz", CreatedBefore: "2026-11-10", Tenant: tenantA},
			want: url.Values{"status": {"new", "inProgress"}, "id": {uuid1}, "name": {"(?i)M(?:i|İ)m(?:i|İ)katz"},
				"timestampField": {"createdAt"}, "to": {"2026-11-10T00:00:01Z"}, "tenantID": {tenantA}},
			pushed: []string{"status", "ids", "title_contains", "created_before", "tenant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testDriver(t, both...)
			plan, err := d.Plan(driver.Query{Criteria: crit(t, tc.filter), Order: schema.DefaultOrder, Fields: tc.fields})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Skip != tc.skip || plan.Exact != tc.exact {
				t.Errorf("skip=%v exact=%v, want skip=%v exact=%v", plan.Skip, plan.Exact, tc.skip, tc.exact)
			}
			if plan.Skip {
				return
			}
			if !slices.Equal(plan.Pushed, tc.pushed) {
				t.Errorf("pushed %q, want %q", plan.Pushed, tc.pushed)
			}
			want := url.Values{"tenantID": both, "page": {"1"}}
			for k, v := range tc.want {
				want[k] = v
			}
			lp := plan.Request.(*listPlan)
			if got := lp.req.query(lp.req.TenantID, 1); got.Encode() != want.Encode() {
				t.Errorf("query\n got %s\nwant %s", got.Encode(), want.Encode())
			}
			if plan.PageSize != PageSize {
				t.Errorf("PageSize = %d", plan.PageSize)
			}
			if native, ok := plan.Native.(NativeRequest); !ok || native.Path != pathIncidents {
				t.Errorf("Native = %#v", plan.Native)
			}
		})
	}
}

func TestPlanTenants(t *testing.T) {
	t.Run("unknown tenant names the readable ones", func(t *testing.T) {
		_, err := testDriver(t, tenantA, tenantB).Plan(driver.Query{Criteria: schema.Criteria{Tenant: "Branch-EU"}})
		if schema.CodeOf(err) != schema.CodeInvalidArgument || !strings.Contains(err.Error(), tenantA) || !strings.Contains(err.Error(), tenantB) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("tenants to be discovered", func(t *testing.T) {
		plan, err := testDriver(t).Plan(driver.Query{})
		if err != nil {
			t.Fatal(err)
		}
		n := plan.Native.(NativeRequest)
		if len(n.TenantID) != 0 || !strings.Contains(n.Tenants, "discovered") {
			t.Errorf("Native = %+v", n)
		}
	})
	t.Run("tenant checked later when not yet discovered", func(t *testing.T) {
		plan, err := testDriver(t).Plan(driver.Query{Criteria: schema.Criteria{Tenant: tenantA}})
		if err != nil {
			t.Fatal(err)
		}
		if lp := plan.Request.(*listPlan); lp.checkTenant != tenantA || !slices.Equal(lp.req.TenantID, []string{tenantA}) {
			t.Errorf("plan request = %+v", lp)
		}
	})
}

func TestPlanOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter schema.Filter
		order  schema.Order
		sorted bool
		desc   string
	}{
		{"no window, newest created first", schema.Filter{}, schema.DefaultOrder, true, "newest created_at first"},
		{"no window, oldest first is not served", schema.Filter{}, schema.Order{Key: schema.OrderCreatedAt}, false, "newest created_at first"},
		{"created window keeps created order", schema.Filter{CreatedAfter: "7d"}, schema.DefaultOrder, true, "newest created_at first"},
		{"updated window orders by updated", schema.Filter{UpdatedAfter: "7d"}, schema.DefaultOrder, false, "newest updated_at first"},
		{"updated window serves updated desc", schema.Filter{UpdatedAfter: "7d"}, schema.Order{Key: schema.OrderUpdatedAt, Desc: true}, true, "newest updated_at first"},
		{"severity is never sorted", schema.Filter{}, schema.Order{Key: schema.OrderSeverity, Desc: true}, false, "newest created_at first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := testDriver(t, tenantA).Plan(driver.Query{Criteria: crit(t, tc.filter), Order: tc.order})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Sorted != tc.sorted || !strings.HasPrefix(plan.Order, tc.desc) {
				t.Errorf("sorted=%v order=%q, want %v %q", plan.Sorted, plan.Order, tc.sorted, tc.desc)
			}
		})
	}
	for _, o := range testDriver(t).Info().Sorts {
		if plan, _ := testDriver(t, tenantA).Plan(driver.Query{Order: o}); !plan.Sorted {
			t.Errorf("Info lists %s, but its plan is not sorted", o)
		}
	}
}

// TestTitlePattern pins the escaping and proves with Go's RE2 (the
// simulator's engine, which agrees with PCRE on escaped literals) that each
// pattern matches the literal text in any case and nothing a regex reading
// of it would.
func TestTitlePattern(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		match, reject  []string
	}{
		{name: "metacharacters", in: `a.b*(c)[d]+$`, want: `(?i)a\.b\*\(c\)\[d\]\+\$`,
			match: []string{`x a.b*(c)[d]+$ y`, `A.B*(C)[D]+$`}, reject: []string{"aXbcd", "abbbcdd", "a.b*(c)[d]+", "ab(c)[d]+$"}},
		{name: "every ASCII punctuation", in: "!\"#%&'*+,-./:;<=>?@[\\]^`{|}~ _", want: "(?i)\\!\\\"\\#\\%\\&\\'\\*\\+\\,\\-\\.\\/\\:\\;\\<\\=\\>\\?\\@\\[\\\\\\]\\^\\`\\{\\|\\}\\~\\ _",
			match: []string{"!\"#%&'*+,-./:;<=>?@[\\]^`{|}~ _"}},
		{name: "regex classes stay literal", in: `^anchored {2,3} \d+`, want: `(?i)\^anchored\ \{2\,3\}\ \\d\+`,
			match: []string{`^anchored {2,3} \d+ not`}, reject: []string{"anchored  5"}},
		{name: "control characters", in: "Tab\tnl\ncr\r\x00\x7f", want: `(?i)Tab\x{09}nl\x{0a}cr\x{0d}\x{00}\x{7f}`,
			match: []string{"TAB\tNL\nCR\r\x00\x7f"}, reject: []string{"Tab nl cr"}},
		{name: "non-ASCII verbatim", in: "Доступ — 日本語 ⚠", want: "(?i)Доступ\\ —\\ 日本語\\ ⚠",
			match: []string{"доступ — 日本語 ⚠", "ДОСТУП — 日本語 ⚠"}, reject: []string{"Доступ - 日本語 ⚠"}},
		{name: "i matches dotted capital I", in: "istanbul", want: "(?i)(?:i|İ)stanbul",
			match: []string{"İSTANBUL", "Istanbul", "istanbul"}, reject: []string{"ıstanbul"}},
		{name: "dotted capital I matches i", in: "İ", want: "(?i)(?:i|İ)", match: []string{"i", "I", "İ"}},
		{name: "underscore and digits", in: "svc_01", want: "(?i)svc_01", match: []string{"SVC_01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := titlePattern(tc.in)
			if got != tc.want {
				t.Errorf("titlePattern(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			re, err := regexp.Compile(got)
			if err != nil {
				t.Fatalf("pattern %q does not compile: %v", got, err)
			}
			for _, s := range append(tc.match, tc.in) {
				if !re.MatchString(s) {
					t.Errorf("%s does not match %q", got, s)
				}
			}
			for _, s := range tc.reject {
				if re.MatchString(s) {
					t.Errorf("%s matches %q", got, s)
				}
			}
			for _, r := range got {
				if r < 0x20 || r == 0x7f {
					t.Errorf("pattern carries a raw control character %U", r)
				}
			}
		})
	}
}

// TestFoldExtrasComplete proves the title pattern a superset of the local
// check for every character: whatever strings.ToLower equates with a needle
// character, the pattern for it matches. It scans every code point against
// the Unicode tables of the Go release in use.
func TestFoldExtrasComplete(t *testing.T) {
	classes := map[rune][]rune{}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l != r || len(classes[l]) > 0 {
			classes[l] = append(classes[l], r)
		}
	}
	checked := 0
	for l, members := range classes {
		members = append(members, l)
		for _, needle := range members {
			re := regexp.MustCompile(`^(?:` + titlePattern(string(needle)) + `)$`)
			for _, x := range members {
				if !re.MatchString(string(x)) {
					t.Errorf("needle %U %q: pattern %s misses %U %q, which lower-cases the same", needle, needle, titlePattern(string(needle)), x, x)
				}
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("checked only %d characters", checked)
	}
}

func TestCaseless(t *testing.T) {
	for in, want := range map[string]bool{"10.0.0.1": true, "日本語 ⚠": true, "a": false, "Д": false, "ſ": false, "": true} {
		if got := caseless(in); got != want {
			t.Errorf("caseless(%q) = %v", in, got)
		}
	}
}

func TestNormalizeTables(t *testing.T) {
	for _, tc := range []struct {
		status, severity, resolution string
		wantStatus                   schema.Status
		wantSeverity                 schema.Severity
		wantResolution               schema.Resolution
	}{
		{"open", "low", "", schema.StatusOpen, schema.SeverityLow, ""},
		{"inProgress", "medium", "", schema.StatusInProgress, schema.SeverityMedium, ""},
		{"hold", "high", "", schema.StatusOnHold, schema.SeverityHigh, ""},
		{"closed", "critical", "truePositive", schema.StatusClosed, schema.SeverityCritical, schema.ResolutionTruePositive},
		{"closed", "low", "falsePositive", schema.StatusClosed, schema.SeverityLow, schema.ResolutionFalsePositive},
		{"closed", "low", "lowPriority", schema.StatusClosed, schema.SeverityLow, schema.ResolutionLowPriority},
		{"closed", "low", "merged", schema.StatusClosed, schema.SeverityLow, schema.ResolutionMerged},
		{"closed", "low", "duplicate", schema.StatusClosed, schema.SeverityLow, "duplicate"},
		{"archived", "extreme", "", "", "", ""},
	} {
		inc := normalize(&wireIncident{InternalID: uuid1, Status: tc.status, Severity: tc.severity, Resolution: tc.resolution})
		if inc.Status != tc.wantStatus || inc.Severity != tc.wantSeverity || inc.Resolution != tc.wantResolution ||
			inc.VendorStatus != tc.status || inc.VendorSeverity != tc.severity {
			t.Errorf("%s/%s/%s → %+v", tc.status, tc.severity, tc.resolution, inc)
		}
	}
	for s, v := range statusToFilter {
		if s != schema.StatusOpen && statusFromKaspersky[v] != s {
			t.Errorf("status %s filters as %q, which reads back as %q", s, v, statusFromKaspersky[v])
		}
	}
}

func TestCloseReason(t *testing.T) {
	st := func(s schema.Status) *schema.Status { return &s }
	res := func(r schema.Resolution) *schema.Resolution { return &r }
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name  string
		patch schema.Patch
		want  string
		code  schema.Code
	}{
		{"close true positive", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionTruePositive)}, "truePositive", ""},
		{"close false positive", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionFalsePositive)}, "falsePositive", ""},
		{"close low priority", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionLowPriority)}, "lowPriority", ""},
		{"merged is the console's", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionMerged)}, "", schema.CodeUnsupported},
		{"suspicious is ESET's", schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionSuspicious)}, "", schema.CodeUnsupported},
		{"close needs a resolution", schema.Patch{Status: st(schema.StatusClosed)}, "", schema.CodeInvalidArgument},
		{"resolution alone", schema.Patch{Resolution: res(schema.ResolutionTruePositive)}, "", schema.CodeUnsupported},
		{"reopen", schema.Patch{Status: st(schema.StatusOpen)}, "", schema.CodeUnsupported},
		{"in progress", schema.Patch{Status: st(schema.StatusInProgress)}, "", schema.CodeUnsupported},
		{"title", schema.Patch{Title: str("x")}, "", schema.CodeUnsupported},
		{"assignee with close", schema.Patch{Assignee: str("u"), Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionTruePositive)}, "", schema.CodeUnsupported},
		{"comment", schema.Patch{Comment: str("c")}, "", schema.CodeUnsupported},
		{"severity", schema.Patch{Severity: new(schema.SeverityHigh)}, "", schema.CodeUnsupported},
		{"empty", schema.Patch{}, "", schema.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := closeReason(tc.patch)
			if tc.code != "" {
				if schema.CodeOf(err) != tc.code {
					t.Fatalf("err = %v (code %s), want %s", err, schema.CodeOf(err), tc.code)
				}
				if tc.code == schema.CodeUnsupported && !strings.Contains(err.Error(), "close") {
					t.Errorf("refusal does not say what Kaspersky allows: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("closeReason = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
