package kasperskysim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Default tenant IDs do not depend on the seed, so tests can name them up front.
var (
	rootID, euID, restrictedID = func() (string, string, string) {
		ts := DefaultTenants()
		return ts[0].ID, ts[1].ID, ts[2].ID
	}()
	readableIDs = []string{rootID, euID}
)

// allToken reads every tenant, including the restricted one.
const allToken = "all-token"

func testConfig(n int) Config {
	return Config{Seed: 7, Incidents: n, Now: testNow, Tokens: map[string][]string{
		DefaultToken: readableIDs,
		allToken:     {rootID, euID, restrictedID},
	}}
}

func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

type response struct {
	status int
	body   []byte
}

// errMessage decodes the vendor's error body.
func (r response) errMessage(t *testing.T) (string, string) {
	t.Helper()
	var e struct{ Message, Details string }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return e.Message, e.Details
}

func call(t *testing.T, ts *httptest.Server, method, path, rawQuery, auth, body string) response {
	t.Helper()
	u := ts.URL + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, b}
}

func get(t *testing.T, ts *httptest.Server, q url.Values) response {
	t.Helper()
	return call(t, ts, http.MethodGet, PathIncidents, q.Encode(), "Bearer "+DefaultToken, "")
}

// page fetches one list page and fails the test unless it is a 200.
func page(t *testing.T, ts *httptest.Server, token string, q url.Values) listResponse {
	t.Helper()
	r := call(t, ts, http.MethodGet, PathIncidents, q.Encode(), "Bearer "+token, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET ?%s: %d %s", q.Encode(), r.status, r.body)
	}
	var lr listResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	return lr
}

// listAll walks every page of a query, checking that Total stays put.
func listAll(t *testing.T, ts *httptest.Server, token string, q url.Values) []Incident {
	t.Helper()
	var out []Incident
	total := -1
	for p := 1; ; p++ {
		q.Set("page", strconv.Itoa(p))
		lr := page(t, ts, token, q)
		if total >= 0 && lr.Total != total {
			t.Fatalf("Total changed from %d to %d on page %d", total, lr.Total, p)
		}
		total = lr.Total
		out = append(out, lr.Incidents...)
		if len(lr.Incidents) < PageSize {
			break
		}
	}
	if len(out) != total {
		t.Fatalf("walked %d incidents, Total says %d", len(out), total)
	}
	return out
}

func tenantQuery(tenants ...string) url.Values {
	return url.Values{"tenantID": tenants}
}

func ids(ins []Incident) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.InternalID
	}
	slices.Sort(out)
	return out
}

// want filters the full dataset with the same rule the test states, independently of
// the server's code path.
func want(all []Incident, keep func(Incident) bool) []string {
	var out []Incident
	for _, in := range all {
		if keep(in) {
			out = append(out, in)
		}
	}
	return ids(out)
}

func inTenants(tenants ...string) func(Incident) bool {
	return func(in Incident) bool { return slices.Contains(tenants, in.TenantID) }
}

func TestAuth(t *testing.T) {
	_, ts := start(t, testConfig(50))
	q := tenantQuery(rootID).Encode()
	tests := []struct {
		name, auth string
		status     int
		message    string
	}{
		{"missing", "", http.StatusBadRequest, "invalid authorization header"},
		{"wrong scheme", "Basic ZGVtbzpkZW1v", http.StatusBadRequest, "invalid authorization header"},
		{"no token", "Bearer", http.StatusBadRequest, "invalid authorization header"},
		{"blank token", "Bearer   ", http.StatusBadRequest, "invalid authorization header"},
		{"unknown token", "Bearer nope", http.StatusForbidden, "access denied"},
		{"valid", "Bearer " + DefaultToken, http.StatusOK, ""},
		{"scheme case-insensitive", "bearer " + DefaultToken, http.StatusOK, ""},
	}
	for _, tt := range tests {
		for _, path := range []string{PathTenants, PathIncidents} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				r := call(t, ts, http.MethodGet, path, q, tt.auth, "")
				if r.status != tt.status {
					t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
				}
				if tt.message != "" {
					if msg, _ := r.errMessage(t); msg != tt.message {
						t.Errorf("message %q, want %q", msg, tt.message)
					}
				}
			})
		}
	}
}

func TestTenants(t *testing.T) {
	_, ts := start(t, testConfig(50))
	tests := []struct {
		name, token string
		want        []string
		rootSubs    []string
	}{
		{"demo token hides the restricted tenant", DefaultToken, []string{TenantRoot, TenantBranchEU}, []string{euID}},
		{"full token sees all", allToken, []string{TenantRoot, TenantBranchEU, TenantRestricted}, []string{euID, restrictedID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts, http.MethodGet, PathTenants, "", "Bearer "+tt.token, "")
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var raw []map[string]any
			if err := json.Unmarshal(r.body, &raw); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"ID", "Name", "Description", "Removable", "Subtenants", "IsRoot"} {
				if _, ok := raw[0][key]; !ok {
					t.Errorf("tenant lacks %q: %v", key, raw[0])
				}
			}
			var got []Tenant
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tn := range got {
				names = append(names, tn.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("tenants %v, want %v", names, tt.want)
			}
			if !got[0].IsRoot || !slices.Equal(got[0].Subtenants, tt.rootSubs) {
				t.Errorf("root %+v, want IsRoot and subtenants %v", got[0], tt.rootSubs)
			}
		})
	}
}

// TestJSONRoundTrip: what a client decodes equals the dataset, even with a Now finer
// than the wire's milliseconds.
func TestJSONRoundTrip(t *testing.T) {
	s, ts := start(t, Config{Seed: 5, Incidents: 60, Now: testNow.Add(123456789 * time.Nanosecond)})
	all := s.Incidents()
	got := listAll(t, ts, DefaultToken, url.Values{"tenantID": readableIDs, "withAffected": {""}, "withHistory": {""}})
	for _, in := range got {
		i := slices.IndexFunc(all, func(x Incident) bool { return x.InternalID == in.InternalID })
		if !reflect.DeepEqual(in, all[i]) {
			t.Fatalf("decoded incident %d differs from Incidents()", in.ID)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	s := New(Config{})
	if n := len(s.Incidents()); n != DefaultIncidents {
		t.Errorf("%d incidents, want %d", n, DefaultIncidents)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	lr := page(t, ts, DefaultToken, tenantQuery(readableIDs...))
	if lr.Total == 0 {
		t.Error("the demo token sees no incidents")
	}
	if r := get(t, ts, tenantQuery(restrictedID)); r.status != http.StatusForbidden {
		t.Errorf("restricted tenant: %d, want 403", r.status)
	}
}

func TestTenantRights(t *testing.T) {
	s, ts := start(t, testConfig(300))
	all := s.Incidents()
	tests := []struct {
		name    string
		token   string
		q       url.Values
		status  int
		message string
	}{
		{"tenant required", DefaultToken, url.Values{}, http.StatusBadRequest, "tenantID required"},
		{"restricted tenant", DefaultToken, tenantQuery(restrictedID), http.StatusForbidden, "access denied"},
		{"one unreadable tenant fails the whole query", DefaultToken, tenantQuery(rootID, restrictedID), http.StatusForbidden, "access denied"},
		{"unknown tenant", DefaultToken, tenantQuery("00000000-0000-0000-0000-000000000000"), http.StatusForbidden, "access denied"},
		{"readable tenant", DefaultToken, tenantQuery(euID), http.StatusOK, ""},
		{"restricted tenant with full token", allToken, tenantQuery(restrictedID), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, ts, http.MethodGet, PathIncidents, tt.q.Encode(), "Bearer "+tt.token, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.status != http.StatusOK {
				if msg, _ := r.errMessage(t); msg != tt.message {
					t.Errorf("message %q, want %q", msg, tt.message)
				}
				return
			}
			got := listAll(t, ts, tt.token, tt.q)
			if w := want(all, inTenants(tt.q["tenantID"]...)); len(w) == 0 || !slices.Equal(ids(got), w) {
				t.Errorf("got %d incidents, want the tenant's %d", len(got), len(w))
			}
		})
	}
}

func TestPaging(t *testing.T) {
	s, ts := start(t, testConfig(420))
	all := s.Incidents()
	q := tenantQuery(readableIDs...)
	w := want(all, inTenants(readableIDs...))
	if len(w) <= 2*PageSize {
		t.Fatalf("dataset too small for paging: %d", len(w))
	}

	t.Run("every incident exactly once", func(t *testing.T) {
		got := listAll(t, ts, DefaultToken, q)
		if !slices.Equal(ids(got), w) {
			t.Fatalf("pages hold %d incidents, want %d distinct", len(got), len(w))
		}
		if len(slices.Compact(ids(got))) != len(got) {
			t.Error("an incident appears twice")
		}
		// Newest first by CreatedAt, ties by InternalID.
		if !slices.IsSortedFunc(got, func(a, b Incident) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.InternalID, b.InternalID)
		}) {
			t.Error("pages are not newest first")
		}
	})

	first := page(t, ts, DefaultToken, tenantQuery(readableIDs...))
	for _, p := range []string{"0", "-3", "abc", "1", ""} {
		t.Run("page "+strconv.Quote(p)+" is page 1", func(t *testing.T) {
			q := tenantQuery(readableIDs...)
			if p != "" {
				q.Set("page", p)
			}
			lr := page(t, ts, DefaultToken, q)
			if len(lr.Incidents) != PageSize || lr.Total != len(w) || lr.Incidents[0].InternalID != first.Incidents[0].InternalID {
				t.Errorf("page %q: %d incidents, Total %d; want page 1 (%d, %d)", p, len(lr.Incidents), lr.Total, PageSize, len(w))
			}
		})
	}
	for _, p := range []string{"99", "9223372036854775807"} {
		t.Run("page "+p+" past the end", func(t *testing.T) {
			q := tenantQuery(readableIDs...)
			q.Set("page", p)
			r := get(t, ts, q)
			if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"Incidents":[]`)) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var lr listResponse
			_ = json.Unmarshal(r.body, &lr)
			if lr.Total != len(w) {
				t.Errorf("Total %d, want %d", lr.Total, len(w))
			}
		})
	}
}

func TestStatusAndIDFilters(t *testing.T) {
	s, ts := start(t, testConfig(400))
	all := s.Incidents()
	var readable []Incident
	for _, in := range all {
		if inTenants(readableIDs...)(in) {
			readable = append(readable, in)
		}
	}
	a, b := readable[3], readable[17]
	hasStatus := func(st ...string) func(Incident) bool {
		return func(in Incident) bool { return inTenants(readableIDs...)(in) && slices.Contains(st, in.Status) }
	}
	tests := []struct {
		name    string
		q       url.Values
		keep    func(Incident) bool
		status  int
		message string
	}{
		{"new selects open", url.Values{"status": {"new"}}, hasStatus(StatusOpen), 200, ""},
		{"open is a synonym", url.Values{"status": {"open"}}, hasStatus(StatusOpen), 200, ""},
		{"repeated status is OR", url.Values{"status": {"inProgress", "hold"}}, hasStatus(StatusInProgress, StatusHold), 200, ""},
		{"closed", url.Values{"status": {"closed"}}, hasStatus(StatusClosed), 200, ""},
		{"bad status", url.Values{"status": {"resolved"}}, nil, 400, "invalid status"},
		{"status is case-sensitive", url.Values{"status": {"New"}}, nil, 400, "invalid status"},
		{"repeated id is OR", url.Values{"id": {a.InternalID, b.InternalID}},
			func(in Incident) bool { return in.InternalID == a.InternalID || in.InternalID == b.InternalID }, 200, ""},
		{"unknown id is ignored", url.Values{"id": {a.InternalID, "11111111-2222-4333-8444-555555555555"}},
			func(in Incident) bool { return in.InternalID == a.InternalID }, 200, ""},
		{"id matches regardless of case", url.Values{"id": {strings.ToUpper(a.InternalID)}},
			func(in Incident) bool { return in.InternalID == a.InternalID }, 200, ""},
		{"only unknown ids: nothing", url.Values{"id": {"11111111-2222-4333-8444-555555555555"}},
			func(Incident) bool { return false }, 200, ""},
		{"id not a uuid", url.Values{"id": {"42"}}, nil, 400, "invalid id"},
		{"id and status combine with AND", url.Values{"id": {a.InternalID, b.InternalID}, "status": {a.Status}},
			func(in Incident) bool {
				return (in.InternalID == a.InternalID || in.InternalID == b.InternalID) && in.Status == a.Status
			}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tenantQuery(readableIDs...)
			for k, v := range tt.q {
				q[k] = v
			}
			if tt.status != 200 {
				r := get(t, ts, q)
				if msg, _ := r.errMessage(t); r.status != tt.status || msg != tt.message {
					t.Fatalf("%d %q, want %d %q", r.status, msg, tt.status, tt.message)
				}
				return
			}
			got, w := ids(listAll(t, ts, DefaultToken, q)), want(all, tt.keep)
			if !slices.Equal(got, w) {
				t.Errorf("got %d incidents, want %d", len(got), len(w))
			}
		})
	}
}

// pcreEscape is the escaping the project's driver uses for a literal title search:
// every ASCII character that is not a letter, digit or '_' gets a backslash, control
// characters become \x{hh}. RE2 must read it as the same literal PCRE would.
func pcreEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x{` + strconv.FormatInt(int64(r), 16) + `}`)
		case r < 0x80 && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestNameRegex(t *testing.T) {
	s, ts := start(t, testConfig(600))
	all := s.Incidents()
	type tc struct {
		name, pattern string
		keep          func(string) bool
		status        int
	}
	tests := []tc{
		{"unanchored substring", "PsExec", func(n string) bool { return strings.Contains(n, "PsExec") }, 200},
		{"case-sensitive by default", "psexec", func(n string) bool { return strings.Contains(n, "psexec") }, 200},
		{"(?i) folds case", "(?i)psexec", func(n string) bool { return strings.Contains(strings.ToLower(n), "psexec") }, 200},
		{"anchors", "^Possible.*SRV", func(n string) bool {
			return strings.HasPrefix(n, "Possible") && strings.Contains(n, "SRV")
		}, 200},
		{"alternation", "Mimikatz|Kerberoasting", func(n string) bool {
			return strings.Contains(n, "Mimikatz") || strings.Contains(n, "Kerberoasting")
		}, 200},
		{"non-ASCII", "Подозрительная", func(n string) bool { return strings.Contains(n, "Подозрительная") }, 200},
		{`\x{hh} escape`, `\x{09}`, func(n string) bool { return strings.Contains(n, "\t") }, 200},
		{"invalid pattern", "(unclosed", nil, 400},
		{"lookahead is not RE2", "Possible(?= lateral)", nil, 400},
		{"backreference is not RE2", `(a)\1`, nil, 400},
	}
	for _, title := range literalTitles {
		tests = append(tests, tc{"literal " + strconv.Quote(title), pcreEscape(title), func(n string) bool { return n == title }, 200})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tenantQuery(readableIDs...)
			q.Set("name", tt.pattern)
			if tt.status != 200 {
				r := get(t, ts, q)
				if msg, details := r.errMessage(t); r.status != 400 || msg != "invalid name" || details == "" {
					t.Fatalf("%d %q %q, want 400 invalid name with details", r.status, msg, details)
				}
				return
			}
			got := ids(listAll(t, ts, DefaultToken, q))
			w := want(all, func(in Incident) bool { return inTenants(readableIDs...)(in) && tt.keep(in.Name) })
			if !slices.Equal(got, w) {
				t.Errorf("%q: got %d, want %d", tt.pattern, len(got), len(w))
			}
			if strings.HasPrefix(tt.name, "literal") && len(w) != 1 {
				t.Errorf("literal title should be in the readable data once, found %d", len(w))
			}
		})
	}
}

func TestTimeWindow(t *testing.T) {
	s, ts := start(t, testConfig(400))
	all := s.Incidents()
	for field, key := range timestampFields {
		t.Run(field, func(t *testing.T) {
			var times []time.Time
			for _, in := range all {
				if inTenants(readableIDs...)(in) {
					times = append(times, key(&in))
				}
			}
			slices.SortFunc(times, time.Time.Compare)
			from, to := times[len(times)/4], times[len(times)/2]
			q := tenantQuery(readableIDs...)
			q.Set("timestampField", field)
			q.Set("from", from.Format(time.RFC3339Nano))
			q.Set("to", to.Format(time.RFC3339Nano))
			got := listAll(t, ts, DefaultToken, q)
			w := want(all, func(in Incident) bool {
				v := key(&in)
				return inTenants(readableIDs...)(in) && !v.Before(from) && !v.After(to)
			})
			if !slices.Equal(ids(got), w) {
				t.Errorf("window: got %d, want %d", len(got), len(w))
			}
			// Both bounds inclusive: the records on them are in.
			if !slices.ContainsFunc(got, func(in Incident) bool { return key(&in).Equal(from) }) ||
				!slices.ContainsFunc(got, func(in Incident) bool { return key(&in).Equal(to) }) {
				t.Error("a record stamped exactly on a bound is missing")
			}
			if !slices.IsSortedFunc(got, func(a, b Incident) int { return key(&b).Compare(key(&a)) }) {
				t.Errorf("not newest first by %s", field)
			}

			// An offset form of the same instant selects the same records.
			q.Set("from", from.In(time.FixedZone("", 3*3600)).Format(time.RFC3339Nano))
			if got2 := listAll(t, ts, DefaultToken, q); !slices.Equal(ids(got2), w) {
				t.Error("an RFC 3339 offset changed the result")
			}
		})
	}

	tests := []struct {
		name     string
		q        url.Values
		message  string
		details  bool
		wantCode int
	}{
		{"bad field", url.Values{"timestampField": {"closedAt"}}, "invalid timestamp field", true, 400},
		{"unparsable from", url.Values{"timestampField": {"createdAt"}, "from": {"yesterday"}}, "cannot parse from", true, 400},
		{"unparsable to", url.Values{"timestampField": {"updatedAt"}, "to": {"2025-13-01T00:00:00Z"}}, "cannot parse to", true, 400},
		{"date without time", url.Values{"timestampField": {"createdAt"}, "from": {"2025-05-01"}}, "cannot parse from", true, 400},
		{"from without field", url.Values{"from": {"2025-05-01T00:00:00Z"}}, "timestamp field required", true, 400},
		{"to without field", url.Values{"to": {"2025-05-01T00:00:00Z"}}, "timestamp field required", true, 400},
		{"field alone only orders", url.Values{"timestampField": {"statusChangedAt"}}, "", false, 200},
		{"empty window", url.Values{"timestampField": {"createdAt"}, "from": {"2025-05-02T00:00:00Z"}, "to": {"2025-05-01T00:00:00Z"}}, "", false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tenantQuery(readableIDs...)
			for k, v := range tt.q {
				q[k] = v
			}
			r := get(t, ts, q)
			if r.status != tt.wantCode {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.wantCode)
			}
			if tt.wantCode == 200 {
				return
			}
			msg, details := r.errMessage(t)
			if msg != tt.message || (details != "") != tt.details {
				t.Errorf("got %q (details %q), want %q", msg, details, tt.message)
			}
		})
	}
}

func TestAffectedAndHistoryFlags(t *testing.T) {
	_, ts := start(t, testConfig(50))
	tests := []struct {
		query                   string
		wantAssets, wantHistory bool
	}{
		{"", false, false},
		{"&withAffected", true, false},
		{"&withAffected=true", true, false},
		{"&withAffected=123", true, false},
		{"&withAffected=false", true, false}, // presence is what counts
		{"&withHistory", false, true},
		{"&withHistory=1&withAffected=", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, ts, http.MethodGet, PathIncidents, "tenantID="+rootID+tt.query, "Bearer "+DefaultToken, "")
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var lr struct{ Incidents []map[string]json.RawMessage }
			if err := json.Unmarshal(r.body, &lr); err != nil {
				t.Fatal(err)
			}
			for _, in := range lr.Incidents {
				_, assets := in["Assets"]
				_, history := in["HistoryRecords"]
				if assets != tt.wantAssets || history != tt.wantHistory {
					t.Fatalf("Assets %v HistoryRecords %v, want %v %v", assets, history, tt.wantAssets, tt.wantHistory)
				}
			}
		})
	}
}

// TestWireShape checks the record against the seed's field names and formats.
func TestWireShape(t *testing.T) {
	_, ts := start(t, testConfig(200))
	r := call(t, ts, http.MethodGet, PathIncidents, "withAffected&withHistory&tenantID="+rootID+"&tenantID="+euID, "Bearer "+DefaultToken, "")
	var lr struct {
		Total     int
		Incidents []map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	ms := regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`)
	sawUnassigned, sawHost, sawUser := false, false, false
	for _, in := range lr.Incidents {
		for _, key := range []string{"ID", "InternalID", "TenantID", "Name", "Description", "Assets", "AlertIDs", "CreatedAt",
			"UpdatedAt", "StatusChangedAt", "FirstEventTime", "LastEventTime", "DetectionTechnologies", "MITRETactics",
			"MITRETechniques", "Observables", "Rules", "Severity", "ExternalRef", "Status", "SignOfCreation", "Priority", "HistoryRecords"} {
			if _, ok := in[key]; !ok {
				t.Fatalf("record lacks %s", key)
			}
		}
		for _, key := range []string{"CreatedAt", "UpdatedAt", "StatusChangedAt", "FirstEventTime", "LastEventTime"} {
			if !ms.Match(in[key]) {
				t.Errorf("%s = %s, want millisecond RFC 3339 in UTC", key, in[key])
			}
		}
		_, hasAssignee := in["Assignee"]
		sawUnassigned = sawUnassigned || !hasAssignee
		_, hasResolution := in["StatusResolution"]
		if closed := string(in["Status"]) == `"closed"`; hasResolution != closed {
			t.Errorf("Status %s with StatusResolution present=%v", in["Status"], hasResolution)
		}
		var assets []map[string]json.RawMessage
		_ = json.Unmarshal(in["Assets"], &assets)
		for _, a := range assets {
			_, h := a["HostInfo"]
			_, u := a["UserInfo"]
			sawHost, sawUser = sawHost || h, sawUser || u
		}
	}
	if !sawUnassigned || !sawHost || !sawUser {
		t.Errorf("page lacks variety: unassigned %v host %v user %v", sawUnassigned, sawHost, sawUser)
	}
	var one struct{ Incidents []Incident }
	_ = json.Unmarshal(r.body, &one)
	h := one.Incidents[0].HistoryRecords[0]
	if h.EntityKind == "" || h.Type == "" || h.TenantID == "" || h.CreatedAt.IsZero() {
		t.Errorf("history record not filled: %+v", h)
	}
}

// closeBody encodes a close request.
func closeBody(items ...closeItem) string {
	b, _ := json.Marshal(items)
	return string(b)
}

func postClose(t *testing.T, ts *httptest.Server, token, body string) response {
	t.Helper()
	return call(t, ts, http.MethodPost, PathClose, "", "Bearer "+token, body)
}

// findIncident picks the first readable incident in a status.
func findIncident(t *testing.T, all []Incident, status, resolution string) Incident {
	t.Helper()
	for _, in := range all {
		if in.TenantID != restrictedID && in.Status == status && in.StatusResolution == resolution {
			return in
		}
	}
	t.Fatalf("no readable incident with status %s/%s", status, resolution)
	return Incident{}
}

func current(s *Server, id string) Incident {
	for _, in := range s.Incidents() {
		if in.InternalID == id {
			return in
		}
	}
	return Incident{}
}

func TestClose(t *testing.T) {
	t.Run("closes, stamps and records history", func(t *testing.T) {
		s, ts := start(t, testConfig(200))
		in := findIncident(t, s.Incidents(), StatusOpen, "")
		before := time.Now().UTC().Truncate(time.Millisecond)
		r := postClose(t, ts, DefaultToken, closeBody(closeItem{in.InternalID, in.TenantID, ResolutionFalsePositive}))
		after := time.Now().UTC()
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("%d %q, want 204 without body", r.status, r.body)
		}
		got := current(s, in.InternalID)
		if got.Status != StatusClosed || got.StatusResolution != ResolutionFalsePositive {
			t.Errorf("status %s/%s", got.Status, got.StatusResolution)
		}
		if got.UpdatedAt.Before(before) || got.UpdatedAt.After(after) || !got.StatusChangedAt.Equal(got.UpdatedAt) {
			t.Errorf("UpdatedAt %v StatusChangedAt %v, want now", got.UpdatedAt, got.StatusChangedAt)
		}
		if len(got.HistoryRecords) != len(in.HistoryRecords)+1 || got.HistoryRecords[len(got.HistoryRecords)-1].Params["resolution"] != ResolutionFalsePositive {
			t.Errorf("history %+v", got.HistoryRecords)
		}
		// The list sees the change, including its position under updatedAt ordering.
		q := tenantQuery(in.TenantID)
		q.Set("timestampField", "updatedAt")
		if lr := page(t, ts, DefaultToken, q); lr.Incidents[0].InternalID != in.InternalID || lr.Incidents[0].Status != StatusClosed {
			t.Errorf("the just-closed incident is not first by updatedAt")
		}

		// Closing again with the same reason is idempotent and changes nothing.
		r = postClose(t, ts, DefaultToken, closeBody(closeItem{strings.ToUpper(in.InternalID), in.TenantID, ResolutionFalsePositive}))
		if r.status != http.StatusNoContent {
			t.Fatalf("same reason again: %d %s", r.status, r.body)
		}
		if again := current(s, in.InternalID); !reflect.DeepEqual(again, got) {
			t.Error("an idempotent close changed the incident")
		}
		// With another reason it is refused.
		r = postClose(t, ts, DefaultToken, closeBody(closeItem{in.InternalID, in.TenantID, ResolutionTruePositive}))
		if msg, _ := r.errMessage(t); r.status != 400 || msg != "incident already closed" {
			t.Errorf("other reason: %d %q", r.status, msg)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		s, ts := start(t, testConfig(300))
		all := s.Incidents()
		for _, st := range []string{StatusInProgress, StatusHold} {
			in := findIncident(t, all, st, "")
			if r := postClose(t, ts, DefaultToken, closeBody(closeItem{in.InternalID, in.TenantID, ResolutionLowPriority})); r.status != 204 {
				t.Errorf("closing %s: %d %s", st, r.status, r.body)
			}
		}
		merged := findIncident(t, all, StatusClosed, ResolutionMerged)
		if r := postClose(t, ts, DefaultToken, closeBody(closeItem{merged.InternalID, merged.TenantID, ResolutionTruePositive})); r.status != 400 {
			t.Errorf("re-closing a merged incident: %d", r.status)
		}
	})

	s, ts := start(t, testConfig(300))
	all := s.Incidents()
	open := findIncident(t, all, StatusOpen, "")
	open2 := all[slices.IndexFunc(all, func(in Incident) bool {
		return in.Status == StatusOpen && in.TenantID != restrictedID && in.InternalID != open.InternalID
	})]
	restricted := all[slices.IndexFunc(all, func(in Incident) bool { return in.TenantID == restrictedID && in.Status != StatusClosed })]
	otherTenant := euID
	if open.TenantID == euID {
		otherTenant = rootID
	}
	ok := closeItem{open.InternalID, open.TenantID, ResolutionTruePositive}
	tests := []struct {
		name    string
		body    string
		status  int
		message string
	}{
		{"id required", closeBody(closeItem{"", open.TenantID, ResolutionTruePositive}), 400, "id required"},
		{"reason required", closeBody(closeItem{open.InternalID, open.TenantID, ""}), 400, "reason required"},
		{"invalid reason", closeBody(closeItem{open.InternalID, open.TenantID, "fixed"}), 400, "invalid reason"},
		{"merged is not a client reason", closeBody(closeItem{open.InternalID, open.TenantID, ResolutionMerged}), 400, "invalid reason"},
		{"object instead of array", `{"ID":"` + open.InternalID + `","TenantID":"` + open.TenantID + `","Reason":"truePositive"}`, 400, "invalid request body"},
		{"not JSON", `[{"ID":`, 400, "invalid request body"},
		{"empty body", ``, 400, "invalid request body"},
		{"unreadable tenant", closeBody(closeItem{restricted.InternalID, restrictedID, ResolutionTruePositive}), 403, "access denied"},
		{"unknown incident", closeBody(closeItem{"11111111-2222-4333-8444-555555555555", open.TenantID, ResolutionTruePositive}), 404, "incident not found"},
		{"incident of another tenant", closeBody(closeItem{open.InternalID, otherTenant, ResolutionTruePositive}), 404, "incident not found"},
		{"all or nothing: a bad item stops the good one", closeBody(ok, closeItem{"11111111-2222-4333-8444-555555555555", open.TenantID, ResolutionTruePositive}), 404, "incident not found"},
		{"all or nothing: unreadable second item", closeBody(ok, closeItem{restricted.InternalID, restrictedID, ResolutionTruePositive}), 403, "access denied"},
		{"one batch, two reasons for one incident", closeBody(ok, closeItem{open.InternalID, open.TenantID, ResolutionFalsePositive}), 400, "incident already closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postClose(t, ts, DefaultToken, tt.body)
			if msg, _ := r.errMessage(t); r.status != tt.status || msg != tt.message {
				t.Fatalf("%d %q, want %d %q", r.status, msg, tt.status, tt.message)
			}
			if !reflect.DeepEqual(s.Incidents(), all) {
				t.Fatal("a failed close changed the dataset")
			}
		})
	}
	t.Run("a batch closes all its items", func(t *testing.T) {
		r := postClose(t, ts, DefaultToken, closeBody(ok, closeItem{open2.InternalID, open2.TenantID, ResolutionLowPriority}, ok))
		if r.status != 204 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if a, b := current(s, open.InternalID), current(s, open2.InternalID); a.StatusResolution != ResolutionTruePositive || b.StatusResolution != ResolutionLowPriority {
			t.Errorf("after batch: %s %s", a.StatusResolution, b.StatusResolution)
		}
		if h := current(s, open.InternalID).HistoryRecords; len(h) != len(open.HistoryRecords)+1 {
			t.Errorf("a repeated item wrote %d history records, want 1", len(h)-len(open.HistoryRecords))
		}
	})
}

func TestRoutes(t *testing.T) {
	_, ts := start(t, testConfig(20))
	tests := []struct {
		method, path string
		status       int
		message      string
	}{
		{http.MethodGet, "/xdr/api/v1/alerts", 404, "not found"},
		{http.MethodGet, "/xdr/api/v1/incidents/", 404, "not found"},
		{http.MethodGet, PathClose, 405, "method not allowed"},
		{http.MethodPost, PathIncidents, 405, "method not allowed"},
		{http.MethodDelete, PathTenants, 405, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := call(t, ts, tt.method, tt.path, "", "Bearer "+DefaultToken, "")
			if msg, _ := r.errMessage(t); r.status != tt.status || msg != tt.message {
				t.Errorf("%d %q, want %d %q", r.status, msg, tt.status, tt.message)
			}
		})
	}
}

func TestFailNextAndStats(t *testing.T) {
	s, ts := start(t, testConfig(20))
	s.FailNext(http.StatusServiceUnavailable, 2)
	q := "tenantID=" + rootID + "&status=new"
	for i, want := range []int{503, 503, 200} {
		r := call(t, ts, http.MethodGet, PathIncidents, q, "Bearer "+DefaultToken, "")
		if r.status != want {
			t.Fatalf("request %d: %d, want %d", i, r.status, want)
		}
		if want == 503 {
			if msg, _ := r.errMessage(t); msg == "" {
				t.Error("fault without message")
			}
		}
	}
	call(t, ts, http.MethodGet, PathTenants, "", "Bearer "+DefaultToken, "")
	call(t, ts, http.MethodGet, PathIncidents, q+"&page=2", "Bearer "+DefaultToken, "")
	st := s.Stats()
	if st.Requests != 5 || st.ByPath[PathIncidents] != 4 || st.ByPath[PathTenants] != 1 || st.LastQuery != q+"&page=2" {
		t.Errorf("stats %+v", st)
	}
	st.ByPath[PathTenants] = 99
	if s.Stats().ByPath[PathTenants] != 1 {
		t.Error("Stats shares its map with the server")
	}
}

func TestDeterminism(t *testing.T) {
	cfg := testConfig(300)
	a, b := New(cfg).Incidents(), New(cfg).Incidents()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same config, different datasets")
	}
	cfg.Seed++
	if c := New(cfg).Incidents(); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same dataset")
	}
	if !reflect.DeepEqual(New(cfg).Tenants(), DefaultTenants()) {
		t.Error("default tenants depend on the seed")
	}
}

func TestIncidentsIsADeepCopy(t *testing.T) {
	s := New(testConfig(30))
	a := s.Incidents()
	a[0].Name = "changed"
	a[0].Assets[0].HostInfo.DisplayName = "changed"
	a[0].AlertIDs[0] = "changed"
	a[0].HistoryRecords[0].Params["x"] = "y"
	b := s.Incidents()
	if b[0].Name == "changed" || b[0].Assets[0].HostInfo.DisplayName == "changed" || b[0].AlertIDs[0] == "changed" || b[0].HistoryRecords[0].Params["x"] == "y" {
		t.Error("Incidents aliases the server's state")
	}
}

func TestDataset(t *testing.T) {
	s := New(testConfig(2000))
	all := s.Incidents()
	statuses := map[string]int{}
	resolutions := map[string]int{}
	unassigned, restricted := 0, 0
	tactic, technique := regexp.MustCompile(`^TA\d{4}$`), regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	for i, in := range all {
		statuses[in.Status]++
		resolutions[in.StatusResolution]++
		if in.Assignee == nil {
			unassigned++
		}
		if in.TenantID == restrictedID {
			restricted++
		}
		if in.ID != i+1 || i > 0 && in.CreatedAt.Before(all[i-1].CreatedAt) {
			t.Fatalf("incident %d out of creation order", in.ID)
		}
		if in.CreatedAt.Before(testNow.Add(-90*24*time.Hour)) || !in.CreatedAt.Before(testNow) ||
			in.StatusChangedAt.Before(in.CreatedAt) || in.UpdatedAt.Before(in.StatusChangedAt) || in.UpdatedAt.After(testNow) ||
			in.FirstEventTime.After(in.CreatedAt) || in.LastEventTime.Before(in.FirstEventTime) {
			t.Fatalf("incident %d has inconsistent times", in.ID)
		}
		if (in.Status == StatusClosed) != (in.StatusResolution != "") {
			t.Fatalf("incident %d: %s/%s", in.ID, in.Status, in.StatusResolution)
		}
		hosts, users := 0, 0
		for _, a := range in.Assets {
			switch {
			case a.Type == "host" && a.HostInfo != nil && a.HostInfo.KSC != nil && len(a.HostInfo.IpAddress) > 0:
				hosts++
			case a.Type == "user" && a.UserInfo != nil && a.UserInfo.SamAccountName != "":
				users++
			default:
				t.Fatalf("incident %d: bad asset %+v", in.ID, a)
			}
		}
		if hosts < 1 || hosts > 4 || users > 3 {
			t.Fatalf("incident %d: %d hosts, %d users", in.ID, hosts, users)
		}
		if len(in.AlertIDs) == 0 || len(in.Rules) == 0 || len(in.Observables) == 0 || len(in.HistoryRecords) == 0 {
			t.Fatalf("incident %d is thin", in.ID)
		}
		for _, m := range in.MITRETactics {
			if !tactic.MatchString(m.ID) {
				t.Fatalf("tactic %q", m.ID)
			}
		}
		for _, m := range in.MITRETechniques {
			if !technique.MatchString(m.ID) {
				t.Fatalf("technique %q", m.ID)
			}
		}
	}
	for _, st := range []string{StatusOpen, StatusInProgress, StatusHold, StatusClosed} {
		if statuses[st] < len(all)/20 {
			t.Errorf("status %s is rare: %v", st, statuses)
		}
	}
	for _, r := range []string{ResolutionTruePositive, ResolutionFalsePositive, ResolutionLowPriority, ResolutionMerged} {
		if resolutions[r] == 0 {
			t.Errorf("no %s resolution", r)
		}
	}
	if frac := float64(unassigned) / float64(len(all)); frac < 0.2 || frac > 0.4 {
		t.Errorf("%.0f%% unassigned, want about 30%%", 100*frac)
	}
	if restricted == 0 {
		t.Error("the restricted tenant holds no incidents")
	}
}

func TestCustomTenantsAndTokens(t *testing.T) {
	tenants := []Tenant{{Name: "Solo", IsRoot: true}, {ID: "b1b2b3b4-0000-4000-8000-000000000001", Name: "Other"}}
	s, ts := start(t, Config{Seed: 1, Incidents: 100, Now: testNow, Tenants: tenants})
	got := s.Tenants()
	if got[0].ID == "" || got[1].ID != tenants[1].ID || got[0].Subtenants == nil {
		t.Fatalf("tenants %+v", got)
	}
	// With custom tenants and no tokens, the demo token reads every tenant.
	lr := page(t, ts, DefaultToken, tenantQuery(got[0].ID, got[1].ID))
	if lr.Total != 100 {
		t.Errorf("Total %d, want 100", lr.Total)
	}
}

func TestLargeDataset(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("50 000 incidents: too slow for -short and -race")
	}
	begin := time.Now()
	_, ts := start(t, Config{Seed: 3, Incidents: 50_000, Now: testNow})
	lr := page(t, ts, DefaultToken, url.Values{"tenantID": readableIDs, "page": {"300"}, "withAffected": {""}})
	if lr.Total < 40_000 || len(lr.Incidents) != PageSize {
		t.Errorf("Total %d, page of %d", lr.Total, len(lr.Incidents))
	}
	t.Logf("50 000 incidents generated and one deep page served in %v", time.Since(begin))
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New(Config{Seed: 1, Incidents: 50_000, Now: testNow})
	}
}

func BenchmarkListPage(b *testing.B) {
	s := New(Config{Seed: 1, Incidents: 50_000, Now: testNow})
	req := httptest.NewRequest(http.MethodGet, PathIncidents+"?withAffected&page=5&tenantID="+rootID+"&tenantID="+euID+"&name=(%3Fi)powershell", nil)
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	for b.Loop() {
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// TestConcurrentUse runs lists and closes side by side; with -race it checks the locking.
func TestConcurrentUse(t *testing.T) {
	s, ts := start(t, testConfig(400))
	var open []Incident
	for _, in := range s.Incidents() {
		if in.Status == StatusOpen && in.TenantID != restrictedID {
			open = append(open, in)
		}
	}
	done := make(chan struct{})
	for w := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			q := tenantQuery(readableIDs...)
			q.Set("timestampField", []string{"createdAt", "updatedAt", "statusChangedAt"}[w])
			q.Set("withHistory", "")
			for p := 1; p <= 4; p++ {
				// Straight into the handler: t.Fatal (inside call) must not run off the test goroutine.
				q.Set("page", strconv.Itoa(p))
				req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, PathIncidents+"?"+q.Encode(), nil)
				req.Header.Set("Authorization", "Bearer "+DefaultToken)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Errorf("list: %d", rec.Code)
				}
			}
		}()
	}
	for _, in := range open[:min(10, len(open))] {
		if r := postClose(t, ts, DefaultToken, closeBody(closeItem{in.InternalID, in.TenantID, ResolutionFalsePositive})); r.status != 204 {
			t.Errorf("close: %d %s", r.status, r.body)
		}
	}
	for range 3 {
		<-done
	}
	if r := postClose(t, ts, DefaultToken, "[]"); r.status != 204 {
		t.Errorf("empty batch: %d", r.status)
	}
}

// TestCopierKeepsSharing: a copy shares a host or account record between
// incidents as the original does, and shares nothing with the original.
func TestCopierKeepsSharing(t *testing.T) {
	host := &HostInfo{IpAddress: []string{"10.0.0.1"}, KSC: &KSCInfo{StatusMask: []int{1}}}
	user := &UserInfo{MemberOf: []string{"admins"}}
	a := &Incident{Assets: []Asset{{HostInfo: host, UserInfo: user}}}
	b := &Incident{Assets: []Asset{{HostInfo: host}}}
	c := newCopier()
	ca, cb := c.incident(a), c.incident(b)
	if ca.Assets[0].HostInfo != cb.Assets[0].HostInfo {
		t.Error("the copies of one shared host are two records")
	}
	if ca.Assets[0].HostInfo == host || ca.Assets[0].UserInfo == user {
		t.Fatal("the copy shares a record with the original")
	}
	ca.Assets[0].HostInfo.IpAddress[0] = "changed"
	ca.Assets[0].HostInfo.KSC.StatusMask[0] = 9
	ca.Assets[0].UserInfo.MemberOf[0] = "changed"
	if host.IpAddress[0] != "10.0.0.1" || host.KSC.StatusMask[0] != 1 || user.MemberOf[0] != "admins" {
		t.Error("writing the copy changed the original")
	}
	if c.host(nil) != nil || c.user(nil) != nil {
		t.Error("nil did not copy to nil")
	}
}
