package esetsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var refNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// fakeClock drives token expiry, rate limiting and write timestamps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	sim   *Server
	ts    *httptest.Server
	clock *fakeClock
	token string
}

// newEnv starts a simulator; unless the test sets one, the rate limit is
// off so that tests exercising other rules are not throttled.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if cfg.Now.IsZero() {
		cfg.Now = refNow
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	sim := New(cfg)
	clock := &fakeClock{t: time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC)}
	sim.now = clock.now
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	e := &env{t: t, sim: sim, ts: ts, clock: clock}
	e.token = e.login().AccessToken
	return e
}

func (e *env) tokenRequest(form url.Values) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !uuidRE.MatchString(resp.Header.Get("request-id")) {
		e.t.Errorf("token response request-id = %q, want a UUID", resp.Header.Get("request-id"))
	}
	return resp.StatusCode, b
}

func (e *env) login() tokenResponse {
	e.t.Helper()
	code, b := e.tokenRequest(url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}})
	if code != http.StatusOK {
		e.t.Fatalf("login: %d %s", code, b)
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		e.t.Fatal(err)
	}
	return tr
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

// req sends an API request with the env's token; extra headers come as
// name, value pairs ("Authorization", "" removes the token).
func (e *env) req(method, path string, body any, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if !uuidRE.MatchString(resp.Header.Get("request-id")) {
		e.t.Errorf("%s %s: request-id = %q, want a UUID", method, path, resp.Header.Get("request-id"))
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func (e *env) get(path string) reply { return e.req(http.MethodGet, path, nil) }

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %d %s: %v", r.code, r.body, err)
	}
	return v
}

func wantStatus(t *testing.T, r reply, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
}

// wantError checks the vendor's error shape {code, message, details}.
func wantError(t *testing.T, r reply, status, grpcCode int) errorBody {
	t.Helper()
	wantStatus(t, r, status)
	eb := decode[errorBody](t, r)
	if eb.Code != grpcCode || eb.Message == "" || eb.Details == nil {
		t.Errorf("error body %s, want code %d, a message and details", r.body, grpcCode)
	}
	return eb
}

func listPath(q url.Values) string { return "/v2/incidents?" + q.Encode() }

// listAll pages through a query and returns every incident in order.
func (e *env) listAll(q url.Values) []Incident {
	e.t.Helper()
	var all []Incident
	q = cloneValues(q)
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			e.t.Fatal("paging does not end")
		}
		r := e.get(listPath(q))
		wantStatus(e.t, r, http.StatusOK)
		lr := decode[listResponse](e.t, r)
		all = append(all, lr.Incidents...)
		if lr.NextPageToken == "" {
			return all
		}
		q.Set("pageToken", lr.NextPageToken)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func uuids(list []Incident) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.UUID
	}
	return out
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Config{Seed: 1, Incidents: 20})

	t.Run("password grant", func(t *testing.T) {
		tr := e.login()
		if tr.AccessToken == "" || tr.RefreshToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 {
			t.Errorf("token response %+v", tr)
		}
	})

	bad := []struct {
		name, errCode string
		form          url.Values
	}{
		{"wrong password", "invalid_grant", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"nope"}}},
		{"wrong user", "invalid_grant", url.Values{"grant_type": {"password"}, "username": {"eve"}, "password": {"demo"}}},
		{"unknown refresh token", "invalid_grant", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}}},
		{"unsupported grant", "unsupported_grant_type", url.Values{"grant_type": {"client_credentials"}}},
		{"missing grant", "invalid_request", url.Values{"username": {"demo"}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.tokenRequest(tc.form)
			var body map[string]string
			_ = json.Unmarshal(b, &body)
			if code != http.StatusBadRequest || body["error"] != tc.errCode {
				t.Errorf("got %d %s, want 400 error=%s", code, b, tc.errCode)
			}
		})
	}

	t.Run("refresh rotates", func(t *testing.T) {
		first := e.login()
		refresh := func(rt string) (int, tokenResponse) {
			code, b := e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			var tr tokenResponse
			_ = json.Unmarshal(b, &tr)
			return code, tr
		}
		code, second := refresh(first.RefreshToken)
		if code != http.StatusOK || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Fatalf("refresh: %d %+v", code, second)
		}
		if code, _ := refresh(first.RefreshToken); code != http.StatusBadRequest {
			t.Errorf("reusing a rotated refresh token: %d, want 400", code)
		}
		if code, _ := refresh(second.RefreshToken); code != http.StatusOK {
			t.Errorf("new refresh token: %d, want 200", code)
		}
	})

	headerCases := []struct {
		name, auth string
		want, code int
	}{
		{"missing", "", http.StatusBadRequest, 3},
		{"not bearer", "Basic ZGVtbzpkZW1v", http.StatusBadRequest, 3},
		{"empty bearer", "Bearer ", http.StatusBadRequest, 3},
		{"unknown token", "Bearer forged", http.StatusUnauthorized, 16},
	}
	for _, tc := range headerCases {
		t.Run("header "+tc.name, func(t *testing.T) {
			r := e.req(http.MethodGet, "/v2/incidents", nil, "Authorization", tc.auth)
			wantError(t, r, tc.want, tc.code)
		})
	}

	t.Run("ExpireTokens then refresh", func(t *testing.T) {
		tr := e.login()
		e.token = tr.AccessToken
		wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
		e.sim.ExpireTokens()
		wantError(t, e.get("/v2/incidents"), http.StatusUnauthorized, 16)
		code, b := e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		if code != http.StatusOK {
			t.Fatalf("refresh after expiry: %d %s", code, b)
		}
		var fresh tokenResponse
		_ = json.Unmarshal(b, &fresh)
		e.token = fresh.AccessToken
		wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
	})

	t.Run("TTL elapses", func(t *testing.T) {
		e.token = e.login().AccessToken
		e.clock.advance(59 * time.Minute)
		wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
		e.clock.advance(time.Minute)
		wantError(t, e.get("/v2/incidents"), http.StatusUnauthorized, 16)
	})

	t.Run("stats", func(t *testing.T) {
		st := e.sim.Stats()
		if st.PasswordGrants < 3 || st.RefreshGrants != 3 || st.TokenRequests < st.PasswordGrants+st.RefreshGrants+len(bad) {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, Config{Seed: 2, Incidents: 10})
	id := e.sim.Incidents()[0].UUID
	cases := []struct {
		method, path string
		want, code   int
	}{
		{http.MethodGet, "/v2/incidentz", http.StatusNotFound, 5},
		{http.MethodGet, "/v2/incidents/", http.StatusNotFound, 5},
		{http.MethodPost, "/v2/incidents/" + id + ":frobnicate", http.StatusNotFound, 5},
		{http.MethodGet, "/v2/incidents/" + id + "/detections", http.StatusNotFound, 5},
		{http.MethodGet, "/v2/incidents/00000000-0000-4000-8000-000000000000", http.StatusNotFound, 5},
		{http.MethodDelete, "/v2/incidents", http.StatusMethodNotAllowed, 12},
		{http.MethodGet, "/v2/incidents/" + id + ":close", http.StatusMethodNotAllowed, 12},
		{http.MethodPost, "/v2/incidents/" + id, http.StatusMethodNotAllowed, 12},
		{http.MethodGet, "/oauth/token", http.StatusMethodNotAllowed, 12},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			wantError(t, e.req(tc.method, tc.path, nil), tc.want, tc.code)
		})
	}

	t.Run("request ids are unique", func(t *testing.T) {
		a, b := e.get("/v2/incidents"), e.get("/v2/incidents")
		if a.header.Get("request-id") == b.header.Get("request-id") {
			t.Error("two responses share a request-id")
		}
	})

	t.Run("get one has device and detection uuids, list does not", func(t *testing.T) {
		r := e.get("/v2/incidents/" + id)
		wantStatus(t, r, http.StatusOK)
		one := decode[incidentResponse](t, r).Incident
		if len(one.DeviceUUIDs) == 0 || len(one.DetectionUUIDs) == 0 {
			t.Errorf("get: %s", r.body)
		}
		lr := e.get("/v2/incidents")
		if bytes.Contains(lr.body, []byte("deviceUuids")) || bytes.Contains(lr.body, []byte("detectionUuids")) {
			t.Error("list items carry deviceUuids/detectionUuids")
		}
	})

	t.Run("stats by path", func(t *testing.T) {
		st := e.sim.Stats()
		if st.ByPath["GET /v2/incidents/{uuid}"] < 2 || st.ByPath["POST /v2/incidents/{uuid}:close"] != 0 ||
			st.ByPath["GET /v2/incidents/{uuid}:close"] != 1 || st.ByPath["POST /oauth/token"] != 1 {
			t.Errorf("ByPath %v", st.ByPath)
		}
		if st.Requests != len(cases)-1+4 {
			t.Errorf("Requests = %d, want %d", st.Requests, len(cases)-1+4)
		}
	})
}

func TestFilterSemantics(t *testing.T) {
	e := newEnv(t, Config{Seed: 7, Incidents: 1500})
	all := e.sim.Incidents()

	// Pick real values from the dataset so that every filter has matches.
	var assignee, device string
	for _, in := range all {
		if in.AssigneeUUID != "" && assignee == "" {
			assignee = in.AssigneeUUID
		}
		if len(in.DeviceUUIDs) > 1 && device == "" {
			device = in.DeviceUUIDs[1]
		}
	}
	mid := all[len(all)/2].CreateTime
	late := all[len(all)*3/4].CreateTime
	lateCEST := late.In(time.FixedZone("CEST", 2*3600)).Format(time.RFC3339Nano)

	cases := []struct {
		filter string
		keep   func(Incident) bool
	}{
		{`incident.status == INCIDENT_STATUS_OPEN`, func(i Incident) bool { return i.Status == StatusOpen }},
		{`status == INCIDENT_STATUS_WAITING_FOR_INPUT`, func(i Incident) bool { return i.Status == StatusWaitingForInput }},
		{`incident.severity in [INCIDENT_SEVERITY_LEVEL_HIGH, INCIDENT_SEVERITY_LEVEL_MEDIUM]`,
			func(i Incident) bool { return i.Severity == SeverityHigh || i.Severity == SeverityMedium }},
		{`!(incident.status == INCIDENT_STATUS_CLOSED) && severity == INCIDENT_SEVERITY_LEVEL_HIGH`,
			func(i Incident) bool { return i.Status != StatusClosed && i.Severity == SeverityHigh }},
		{`has(incident.assignee_uuid)`, func(i Incident) bool { return i.AssigneeUUID != "" }},
		{`!has(incident.assigneeUuid)`, func(i Incident) bool { return i.AssigneeUUID == "" }},
		{fmt.Sprintf(`incident.assignee_uuid == %q`, assignee), func(i Incident) bool { return i.AssigneeUUID == assignee }},
		// An absent assignee reads as "" (proto3), so != matches the unassigned too.
		{fmt.Sprintf(`assigneeUuid != %q`, assignee), func(i Incident) bool { return i.AssigneeUUID != assignee }},
		{`incident.displayName.contains("lsass")`, func(i Incident) bool { return strings.Contains(i.DisplayName, "lsass") }},
		{`display_name.contains("MiXeD")`, func(i Incident) bool { return strings.Contains(i.DisplayName, "MiXeD") }},
		{`display_name.contains("mixed")`, func(i Incident) bool { return strings.Contains(i.DisplayName, "mixed") }},
		{`incident.display_name.contains("Überwachung")`, func(i Incident) bool { return strings.Contains(i.DisplayName, "Überwachung") }},
		{`incident.display_name == "\") || true || (\""`, func(i Incident) bool { return i.DisplayName == `") || true || ("` }},
		{`incident.description == ""`, func(i Incident) bool { return i.Description == "" }},
		{fmt.Sprintf(`incident.create_time >= timestamp(%q) && incident.create_time < timestamp(%q)`, mid.Format(time.RFC3339Nano), lateCEST),
			func(i Incident) bool { return !i.CreateTime.Before(mid) && i.CreateTime.Before(late) }},
		{fmt.Sprintf(`updateTime > timestamp(%q)`, mid.Format(time.RFC3339)),
			func(i Incident) bool { return i.UpdateTime.After(mid.Truncate(time.Second)) }},
		{`"pii" in incident.tags || "urgent" in tags`,
			func(i Incident) bool { return slices.Contains(i.Tags, "pii") || slices.Contains(i.Tags, "urgent") }},
		{`incident.tags.exists(t, t.startsWith("cred"))`,
			func(i Incident) bool {
				return slices.ContainsFunc(i.Tags, func(s string) bool { return strings.HasPrefix(s, "cred") })
			}},
		{`size(incident.tags) == 0`, func(i Incident) bool { return len(i.Tags) == 0 }},
		{`size(incident.device_uuids) >= 2 && incident.deviceUuids.size() < 4`,
			func(i Incident) bool { return len(i.DeviceUUIDs) >= 2 && len(i.DeviceUUIDs) < 4 }},
		{fmt.Sprintf(`%q in incident.device_uuids`, device), func(i Incident) bool { return slices.Contains(i.DeviceUUIDs, device) }},
		{`incident.uuid < "8"`, func(i Incident) bool { return i.UUID < "8" }},
		// An evaluation error (index out of range) is not a match.
		{`incident.tags[2] == "pii"`, func(i Incident) bool { return len(i.Tags) > 2 && i.Tags[2] == "pii" }},
		{`   `, func(Incident) bool { return true }},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			var want []string
			for _, in := range all {
				if tc.keep(in) {
					want = append(want, in.UUID)
				}
			}
			got := uuids(e.listAll(url.Values{"filter": {tc.filter}, "pageSize": {"1000"}}))
			if !slices.Equal(got, want) {
				t.Errorf("got %d incidents, want %d", len(got), len(want))
			}
			if len(want) == 0 && !strings.Contains(tc.filter, `"mixed"`) {
				t.Errorf("filter matches nothing in the dataset; the test proves little")
			}
		})
	}
}

func TestListRejections(t *testing.T) {
	e := newEnv(t, Config{Seed: 3, Incidents: 30})
	okFilter := `incident.status == INCIDENT_STATUS_OPEN`
	tok := decode[listResponse](t, e.get(listPath(url.Values{"filter": {okFilter}, "pageSize": {"1"}}))).NextPageToken
	if tok == "" {
		t.Fatal("no page token to test with")
	}
	exactly200 := `incident.display_name != "` + strings.Repeat("x", 200-len(`incident.display_name != ""`)) + `"`
	if len(exactly200) != 200 {
		t.Fatalf("test filter has %d chars", len(exactly200))
	}
	wantOK := e.get(listPath(url.Values{"filter": {exactly200}}))
	wantStatus(t, wantOK, http.StatusOK)

	cases := []struct {
		name  string
		query url.Values
		msg   string // substring of message or details
	}{
		{"quoted enum", url.Values{"filter": {`incident.status == "INCIDENT_STATUS_OPEN"`}}, "unquoted"},
		{"quoted enum in list", url.Values{"filter": {`severity in ["INCIDENT_SEVERITY_LEVEL_HIGH"]`}}, "unquoted"},
		{"unknown field", url.Values{"filter": {`incident.priority == 1`}}, "unknown field"},
		{"unknown identifier", url.Values{"filter": {`owner == "x"`}}, "unknown field"},
		{"unknown enum", url.Values{"filter": {`status == INCIDENT_STATUS_RESOLVED`}}, "unknown field"},
		{"too long", url.Values{"filter": {exactly200 + " "}}, "at most 200"},
		{"severity >=", url.Values{"filter": {`incident.severity >= INCIDENT_SEVERITY_LEVEL_MEDIUM`}}, "only with == or in"},
		{"status !=", url.Values{"filter": {`incident.status != INCIDENT_STATUS_CLOSED`}}, "only with == or in"},
		{"enum ternary", url.Values{"filter": {`(true ? status : status) == INCIDENT_STATUS_OPEN`}}, "only with == or in"},
		{"status vs severity", url.Values{"filter": {`status == INCIDENT_SEVERITY_LEVEL_LOW`}}, "no matching overload"},
		{"not a condition", url.Values{"filter": {`incident.display_name`}}, "condition"},
		{"syntax error", url.Values{"filter": {`incident.status == (`}}, "syntax"},
		{"has without field", url.Values{"filter": {`has(assignee_uuid)`}}, "syntax"},
		{"invalid UTF-8", url.Values{"filter": {"display_name == \"\xff\""}}, "UTF-8"},
		{"too expensive", url.Values{"filter": {`[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].exists(a, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].exists(b, [1,2,3,4,5,6,7,8,9,10].exists(c, a+b+c == 99)))`}}, "too expensive"},
		{"orderBy unknown field", url.Values{"orderBy": {"priority"}}, "unsupported orderBy field"},
		{"orderBy camelCase", url.Values{"orderBy": {"displayName"}}, "unsupported orderBy field"},
		{"orderBy asc", url.Values{"orderBy": {"severity asc"}}, "desc"},
		{"orderBy empty term", url.Values{"orderBy": {"severity,,status"}}, "desc"},
		{"orderBy too long", url.Values{"orderBy": {strings.Repeat("status,", 15)}}, "at most 100"},
		{"negative pageSize", url.Values{"pageSize": {"-1"}}, "negative"},
		{"non-numeric pageSize", url.Values{"pageSize": {"ten"}}, "integer"},
		{"garbage pageToken", url.Values{"pageToken": {"not-a-token"}}, "invalid pageToken"},
		{"overlong pageToken", url.Values{"pageToken": {strings.Repeat("A", 129)}}, "128"},
		{"pageToken with another filter", url.Values{"pageToken": {tok}, "filter": {`status == INCIDENT_STATUS_CLOSED`}}, "different filter"},
		{"pageToken with another orderBy", url.Values{"pageToken": {tok}, "filter": {okFilter}, "orderBy": {"severity"}}, "different filter"},
		{"pageToken tampered", url.Values{"pageToken": {tok[:len(tok)-2] + flip(tok[len(tok)-2:])}, "filter": {okFilter}}, "invalid pageToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(listPath(tc.query))
			wantError(t, r, http.StatusBadRequest, 3)
			if !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("body %s does not mention %q", r.body, tc.msg)
			}
		})
	}
}

func flip(s string) string {
	if s == "AA" {
		return "BB"
	}
	return "AA"
}

func TestPaging(t *testing.T) {
	e := newEnv(t, Config{Seed: 4, Incidents: 1200})
	all := e.sim.Incidents()

	t.Run("pageSize 7 visits each incident once in creation order", func(t *testing.T) {
		got := e.listAll(url.Values{"pageSize": {"7"}})
		if !slices.Equal(uuids(got), uuids(all)) {
			t.Fatalf("paged %d incidents, want the %d in creation order", len(got), len(all))
		}
		for i := 1; i < len(got); i++ {
			if got[i].CreateTime.Before(got[i-1].CreateTime) {
				t.Fatalf("default order is not create_time ascending at %d", i)
			}
		}
	})

	sizes := []struct{ param, want int }{{0, 50}, {1, 1}, {1000, 1000}, {5000, 1000}}
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("pageSize %d", sz.param), func(t *testing.T) {
			q := url.Values{}
			if sz.param != 0 {
				q.Set("pageSize", fmt.Sprint(sz.param))
			}
			lr := decode[listResponse](t, e.get(listPath(q)))
			if len(lr.Incidents) != sz.want || lr.NextPageToken == "" || len(lr.NextPageToken) > 128 {
				t.Errorf("%d incidents, token %q", len(lr.Incidents), lr.NextPageToken)
			}
		})
	}

	t.Run("last page has no token", func(t *testing.T) {
		r := e.get(listPath(url.Values{"filter": {`incident.uuid == "` + all[0].UUID + `"`}}))
		if bytes.Contains(r.body, []byte("nextPageToken")) {
			t.Errorf("single page carries a token: %s", r.body)
		}
		r = e.get(listPath(url.Values{"filter": {`incident.uuid == "none"`}}))
		if string(r.body) != `{"incidents":[]}` {
			t.Errorf("empty result: %s", r.body)
		}
	})
}

func TestOrderBy(t *testing.T) {
	e := newEnv(t, Config{Seed: 5, Incidents: 400})
	all := e.sim.Incidents()
	byUUID := func(a, b Incident) int { return strings.Compare(a.UUID, b.UUID) }
	sev := func(i Incident) int { return slices.Index(severities, i.Severity) }
	st := func(i Incident) int { return slices.Index(statuses, i.Status) }
	cases := []struct {
		orderBy string
		cmp     func(a, b Incident) int
	}{
		{"create_time desc", func(a, b Incident) int { return cmp.Or(b.CreateTime.Compare(a.CreateTime), byUUID(a, b)) }},
		{"update_time", func(a, b Incident) int { return cmp.Or(a.UpdateTime.Compare(b.UpdateTime), byUUID(a, b)) }},
		{"severity desc, create_time", func(a, b Incident) int {
			return cmp.Or(cmp.Compare(sev(b), sev(a)), a.CreateTime.Compare(b.CreateTime), byUUID(a, b))
		}},
		{"status,severity desc", func(a, b Incident) int {
			return cmp.Or(cmp.Compare(st(a), st(b)), cmp.Compare(sev(b), sev(a)), byUUID(a, b))
		}},
		{"display_name", func(a, b Incident) int { return cmp.Or(strings.Compare(a.DisplayName, b.DisplayName), byUUID(a, b)) }},
		{"device_uuids.count desc", func(a, b Incident) int {
			return cmp.Or(cmp.Compare(len(b.DeviceUUIDs), len(a.DeviceUUIDs)), byUUID(a, b))
		}},
		{"detection_uuids.count", func(a, b Incident) int {
			return cmp.Or(cmp.Compare(len(a.DetectionUUIDs), len(b.DetectionUUIDs)), byUUID(a, b))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.orderBy, func(t *testing.T) {
			want := slices.Clone(all)
			slices.SortFunc(want, tc.cmp)
			got := e.listAll(url.Values{"orderBy": {tc.orderBy}, "pageSize": {"33"}})
			if !slices.Equal(uuids(got), uuids(want)) {
				t.Errorf("order differs from the Go sort")
			}
		})
	}
}

func TestAsync(t *testing.T) {
	e := newEnv(t, Config{Seed: 6, Incidents: 20})
	path := listPath(url.Values{"pageSize": {"3"}})
	sync := e.get(path)
	wantStatus(t, sync, http.StatusOK)

	e.sim.SetAsync(2)
	first := e.get(path)
	wantStatus(t, first, http.StatusAccepted)
	rid := first.header.Get("response-id")
	if !uuidRE.MatchString(rid) || len(first.body) != 0 {
		t.Fatalf("202: response-id %q body %q", rid, first.body)
	}
	poll := func() reply { return e.req(http.MethodGet, path, nil, "response-id", rid) }

	wantStatus(t, poll(), http.StatusAccepted)
	done := poll()
	wantStatus(t, done, http.StatusOK)
	if !bytes.Equal(done.body, sync.body) {
		t.Errorf("collected body differs from the synchronous one:\n%s\n%s", done.body, sync.body)
	}
	wantError(t, poll(), http.StatusNotFound, 5)

	t.Run("a different request cannot collect", func(t *testing.T) {
		r := e.get(path)
		wantStatus(t, r, http.StatusAccepted)
		other := e.req(http.MethodGet, listPath(url.Values{"pageSize": {"4"}}), nil, "response-id", r.header.Get("response-id"))
		wantError(t, other, http.StatusNotFound, 5)
	})

	t.Run("uncollected answers expire", func(t *testing.T) {
		r := e.get(path)
		e.clock.advance(pendingTTL + time.Second)
		wantError(t, e.req(http.MethodGet, path, nil, "response-id", r.header.Get("response-id")), http.StatusNotFound, 5)
	})

	t.Run("a write takes effect when first received", func(t *testing.T) {
		target := e.sim.Incidents()[0]
		if target.Status == StatusClosed {
			target = e.sim.Incidents()[1]
		}
		body := map[string]any{"closureReason": ResolveTruePositive}
		p := "/v2/incidents/" + target.UUID + ":close"
		r := e.req(http.MethodPost, p, body)
		wantStatus(t, r, http.StatusAccepted)
		if got := e.sim.byUUID[target.UUID].inc.Status; got != StatusClosed {
			t.Errorf("status after 202 = %s", got)
		}
		e.sim.SetAsync(0)
		wantStatus(t, e.req(http.MethodPost, p, body, "response-id", r.header.Get("response-id")), http.StatusAccepted)
		done := e.req(http.MethodPost, p, body, "response-id", r.header.Get("response-id"))
		wantStatus(t, done, http.StatusOK)
		if string(done.body) != "{}" {
			t.Errorf("close body %s", done.body)
		}
	})

	wantStatus(t, e.get(path), http.StatusOK)
}

func TestFailNext(t *testing.T) {
	e := newEnv(t, Config{Seed: 8, Incidents: 10})
	cases := []struct{ status, code int }{
		{http.StatusInternalServerError, 13},
		{http.StatusBadGateway, 14},
		{http.StatusServiceUnavailable, 14},
		{http.StatusGatewayTimeout, 4},
		{http.StatusForbidden, 7},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e.sim.FailNext(tc.status, 2)
			wantError(t, e.get("/v2/incidents"), tc.status, tc.code)
			wantError(t, e.get("/v2/incidents/"+e.sim.Incidents()[0].UUID), tc.status, tc.code)
			wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
		})
	}
	t.Run("token requests are not failed", func(t *testing.T) {
		e.sim.FailNext(http.StatusServiceUnavailable, 1)
		e.login()
		wantStatus(t, e.get("/v2/incidents"), http.StatusServiceUnavailable)
	})
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{Seed: 9, Incidents: 10, RateLimit: 3})
	for i := range 3 {
		wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
		e.clock.advance(100 * time.Millisecond)
		_ = i
	}
	r := e.get("/v2/incidents")
	wantStatus(t, r, http.StatusTooManyRequests)
	if len(r.body) != 0 {
		t.Errorf("429 body %q, want empty", r.body)
	}
	for range 5 {
		e.login() // token requests are not limited
	}
	e.clock.advance(701 * time.Millisecond) // the first request leaves the window
	wantStatus(t, e.get("/v2/incidents"), http.StatusOK)
	wantStatus(t, e.get("/v2/incidents"), http.StatusTooManyRequests)
	if st := e.sim.Stats(); st.TooMany != 2 {
		t.Errorf("TooMany = %d, want 2", st.TooMany)
	}
}

func TestWrites(t *testing.T) {
	e := newEnv(t, Config{Seed: 10, Incidents: 60})
	var open, inProgress Incident
	for _, in := range e.sim.Incidents() {
		switch {
		case in.Status == StatusOpen && open.UUID == "":
			open = in
		case in.Status == StatusInProgress && inProgress.UUID == "":
			inProgress = in
		}
	}
	if open.UUID == "" || inProgress.UUID == "" {
		t.Fatal("dataset lacks an open or in-progress incident")
	}
	upd := func(id string) string { return "/v2/incidents/" + id + "/basic-attributes:update" }
	read := func(id string) Incident {
		r := e.get("/v2/incidents/" + id)
		wantStatus(t, r, http.StatusOK)
		return decode[incidentResponse](t, r).Incident
	}

	t.Run("update masked fields only", func(t *testing.T) {
		before := read(inProgress.UUID)
		r := e.req(http.MethodPost, upd(inProgress.UUID), map[string]string{
			"displayName": "Renamed by test", "severity": SeverityHigh,
			"description": "must not change", "updateMask": "displayName, severity",
		})
		wantStatus(t, r, http.StatusOK)
		got := decode[incidentResponse](t, r).Incident
		if got.DisplayName != "Renamed by test" || got.Severity != SeverityHigh || got.Description != before.Description ||
			len(got.DeviceUUIDs) == 0 || !got.UpdateTime.After(before.UpdateTime) {
			t.Errorf("updated incident %+v", got)
		}
		if want := e.clock.now().Truncate(time.Millisecond); !got.UpdateTime.Equal(want) {
			t.Errorf("updateTime %v, want the wall clock %v", got.UpdateTime, want)
		}
		if back := read(inProgress.UUID); back.DisplayName != "Renamed by test" || !back.UpdateTime.Equal(got.UpdateTime) {
			t.Errorf("read-back %+v", back)
		}
		f := `incident.display_name == "Renamed by test"`
		if l := e.listAll(url.Values{"filter": {f}}); len(l) != 1 {
			t.Errorf("list after update finds %d", len(l))
		}
		// Two writes in the same millisecond still move updateTime forward.
		r2 := e.req(http.MethodPost, upd(inProgress.UUID), map[string]string{"description": "d", "updateMask": "description"})
		if got2 := decode[incidentResponse](t, r2).Incident; !got2.UpdateTime.After(got.UpdateTime) {
			t.Errorf("second write updateTime %v not after %v", got2.UpdateTime, got.UpdateTime)
		}
	})

	t.Run("unassign while open", func(t *testing.T) {
		r := e.req(http.MethodPost, upd(open.UUID), map[string]string{"assigneeUuid": "", "updateMask": "assigneeUuid"})
		wantStatus(t, r, http.StatusOK)
		if bytes.Contains(r.body, []byte("assigneeUuid")) {
			t.Errorf("unassigned incident still carries assigneeUuid: %s", r.body)
		}
		id := nameUUID("someone")
		r = e.req(http.MethodPost, upd(open.UUID), map[string]string{"assigneeUuid": id, "updateMask": "assigneeUuid"})
		if got := decode[incidentResponse](t, r).Incident; got.AssigneeUUID != id {
			t.Errorf("assignee %q", got.AssigneeUUID)
		}
	})

	updateErrors := []struct {
		name string
		id   string
		body any
		want int
	}{
		{"empty mask", inProgress.UUID, map[string]string{"displayName": "x"}, http.StatusBadRequest},
		{"unknown mask field", inProgress.UUID, map[string]string{"updateMask": "status"}, http.StatusBadRequest},
		{"snake_case mask", inProgress.UUID, map[string]string{"displayName": "x", "updateMask": "display_name"}, http.StatusBadRequest},
		{"mask as array", inProgress.UUID, map[string]any{"displayName": "x", "updateMask": []string{"displayName"}}, http.StatusBadRequest},
		{"invalid severity", inProgress.UUID, map[string]string{"severity": "INCIDENT_SEVERITY_LEVEL_CRITICAL", "updateMask": "severity"}, http.StatusBadRequest},
		{"unspecified severity", inProgress.UUID, map[string]string{"updateMask": "severity"}, http.StatusBadRequest},
		{"empty displayName", inProgress.UUID, map[string]string{"updateMask": "displayName"}, http.StatusBadRequest},
		{"unassign when not open", inProgress.UUID, map[string]string{"assigneeUuid": "", "updateMask": "assigneeUuid"}, http.StatusBadRequest},
		{"not JSON", inProgress.UUID, "{", http.StatusBadRequest},
		{"unknown incident", "00000000-0000-4000-8000-000000000000", map[string]string{"description": "x", "updateMask": "description"}, http.StatusNotFound},
	}
	for _, tc := range updateErrors {
		t.Run("update "+tc.name, func(t *testing.T) {
			before := read(inProgress.UUID)
			wantStatus(t, e.req(http.MethodPost, upd(tc.id), tc.body), tc.want)
			if after := read(inProgress.UUID); !after.UpdateTime.Equal(before.UpdateTime) {
				t.Error("a refused update changed the incident")
			}
		})
	}

	closePath := "/v2/incidents/" + inProgress.UUID + ":close"
	reopenPath := "/v2/incidents/" + inProgress.UUID + ":reopen"
	commentsPath := "/v2/incidents/" + inProgress.UUID + "/comments"

	t.Run("close, reopen and comments", func(t *testing.T) {
		wantError(t, e.req(http.MethodPost, closePath, map[string]any{"closureReason": "INCIDENT_RESOLVE_REASON_UNSPECIFIED"}), http.StatusBadRequest, 3)
		wantError(t, e.req(http.MethodPost, closePath, nil), http.StatusBadRequest, 3)

		r := e.req(http.MethodPost, closePath, map[string]any{
			"closureReason": ResolveFalsePositive, "finalComment": map[string]string{"text": "benign admin tool"},
		})
		wantStatus(t, r, http.StatusOK)
		if string(r.body) != "{}" {
			t.Errorf("close body %s", r.body)
		}
		if got := read(inProgress.UUID); got.Status != StatusClosed || got.ResolveReason != ResolveFalsePositive {
			t.Errorf("after close: %s %s", got.Status, got.ResolveReason)
		}
		wantError(t, e.req(http.MethodPost, closePath, map[string]any{"closureReason": ResolveTruePositive}), http.StatusBadRequest, 9)

		wantStatus(t, e.req(http.MethodPost, reopenPath, map[string]any{"comment": map[string]string{"text": "new evidence"}}), http.StatusOK)
		got := read(inProgress.UUID)
		if got.Status != StatusOpen || got.ResolveReason != "" {
			t.Errorf("after reopen: %s %q", got.Status, got.ResolveReason)
		}
		wantError(t, e.req(http.MethodPost, reopenPath, map[string]any{}), http.StatusBadRequest, 9)
		f := `incident.status == INCIDENT_STATUS_OPEN && incident.uuid == "` + inProgress.UUID + `"`
		if l := e.listAll(url.Values{"filter": {f}}); len(l) != 1 {
			t.Errorf("filter after reopen finds %d", len(l))
		}

		wantError(t, e.req(http.MethodPost, commentsPath, map[string]any{"comment": map[string]string{"text": "  "}}), http.StatusBadRequest, 3)
		r = e.req(http.MethodPost, commentsPath, map[string]any{"comment": map[string]string{"text": "escalated to IR"}})
		wantStatus(t, r, http.StatusOK)
		c := decode[struct{ Comment comment }](t, r).Comment
		if c.Text != "escalated to IR" || !uuidRE.MatchString(c.UUID) || !uuidRE.MatchString(c.AuthorUUID) || c.CreateTime.IsZero() {
			t.Errorf("comment %+v", c)
		}
		list := decode[struct{ Comments []comment }](t, e.get(commentsPath)).Comments
		var texts []string
		for _, c := range list {
			texts = append(texts, c.Text)
		}
		if !slices.Equal(texts, []string{"benign admin tool", "new evidence", "escalated to IR"}) {
			t.Errorf("comments %q", texts)
		}
		wantError(t, e.get("/v2/incidents/nope/comments"), http.StatusNotFound, 5)
	})

	t.Run("reopen an in-progress incident", func(t *testing.T) {
		var other Incident
		for _, in := range e.sim.Incidents() {
			if in.Status == StatusWaitingForInput || (in.Status == StatusInProgress && in.UUID != inProgress.UUID) {
				other = in
				break
			}
		}
		wantStatus(t, e.req(http.MethodPost, "/v2/incidents/"+other.UUID+":reopen", nil), http.StatusOK)
	})
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Seed: 42, Incidents: 200, Now: refNow}
	a, b := newEnv(t, cfg), newEnv(t, cfg)
	ja, _ := json.Marshal(a.sim.Incidents())
	jb, _ := json.Marshal(b.sim.Incidents())
	if !bytes.Equal(ja, jb) {
		t.Fatal("same config, different datasets")
	}
	q := listPath(url.Values{"pageSize": {"25"}, "orderBy": {"severity desc"}, "filter": {`has(incident.assignee_uuid)`}})
	if ra, rb := a.get(q), b.get(q); !bytes.Equal(ra.body, rb.body) {
		t.Error("same config, different list pages")
	}
	c := newEnv(t, Config{Seed: 43, Incidents: 200, Now: refNow})
	jc, _ := json.Marshal(c.sim.Incidents())
	if bytes.Equal(ja, jc) {
		t.Error("different seeds, same dataset")
	}
}

func TestDataset(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		s := New(Config{})
		if n := len(s.Incidents()); n != defaultIncidents {
			t.Errorf("%d incidents, want %d", n, defaultIncidents)
		}
		if s.cfg.Now.Nanosecond() != 0 || s.cfg.RateLimit != 10 || s.cfg.TokenTTL != time.Hour {
			t.Errorf("defaults %+v", s.cfg)
		}
	})
	t.Run("tiny", func(t *testing.T) {
		if n := len(New(Config{Incidents: 5}).Incidents()); n != 5 {
			t.Errorf("%d incidents", n)
		}
	})
	t.Run("50k invariants", func(t *testing.T) {
		start := time.Now()
		s := New(Config{Seed: 11, Incidents: 50_000, Now: refNow})
		t.Logf("generated 50k incidents in %v", time.Since(start))
		all := s.Incidents()
		if len(all) != 50_000 {
			t.Fatalf("%d incidents", len(all))
		}
		seen := map[string]bool{}
		deviceUse := map[string]int{}
		var unassigned, odd int
		statusCount := map[string]int{}
		for i, in := range all {
			if seen[in.UUID] || !uuidRE.MatchString(in.UUID) {
				t.Fatalf("uuid %q duplicate or malformed", in.UUID)
			}
			seen[in.UUID] = true
			if i > 0 && in.CreateTime.Before(all[i-1].CreateTime) {
				t.Fatal("not in creation order")
			}
			if in.CreateTime.Before(refNow.Add(-datasetWindow)) || !in.UpdateTime.After(in.CreateTime) || in.UpdateTime.After(refNow) {
				t.Fatalf("times out of range: %v %v", in.CreateTime, in.UpdateTime)
			}
			if (in.Status == StatusClosed) != (in.ResolveReason != "") {
				t.Fatalf("status %s with resolveReason %q", in.Status, in.ResolveReason)
			}
			if in.AssigneeUUID == "" {
				unassigned++
				if in.Status != StatusOpen {
					t.Fatalf("unassigned %s incident", in.Status)
				}
			}
			if n := len(in.DeviceUUIDs); n < 1 || n > 4 || in.Metrics.DeviceCount != int64(n) ||
				in.Metrics.ProcessCount < in.Metrics.ExecutableCount || len(in.DetectionUUIDs) == 0 {
				t.Fatalf("devices/metrics inconsistent: %+v", in)
			}
			if len(in.Tags) > 5 || in.Tags == nil {
				t.Fatalf("tags %v", in.Tags)
			}
			for _, d := range in.DeviceUUIDs {
				deviceUse[d]++
			}
			if strings.ContainsAny(in.DisplayName, `"\()Ü`) {
				odd++
			}
			statusCount[in.Status]++
		}
		if f := float64(unassigned) / float64(len(all)); f < 0.25 || f > 0.35 {
			t.Errorf("unassigned fraction %.2f", f)
		}
		if len(deviceUse) > devicePool || len(deviceUse) < devicePool/2 {
			t.Errorf("%d distinct devices", len(deviceUse))
		}
		if odd == 0 || len(statusCount) != 4 {
			t.Errorf("odd titles %d, statuses %v", odd, statusCount)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Config{Seed: 12, Incidents: 100})
	ids := uuids(e.sim.Incidents())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				id := ids[(w*10+i)%len(ids)]
				e.req(http.MethodPost, "/v2/incidents/"+id+"/comments", map[string]any{"comment": map[string]string{"text": "x"}})
				e.get(listPath(url.Values{"filter": {`incident.severity == INCIDENT_SEVERITY_LEVEL_HIGH`}, "orderBy": {"update_time desc"}}))
				_ = e.sim.Stats()
			}
		})
	}
	wg.Wait()
	if n := e.sim.Stats().ByPath["POST /v2/incidents/{uuid}/comments"]; n != 40 {
		t.Errorf("%d comment posts counted", n)
	}
}

func BenchmarkGenerate50k(b *testing.B) {
	for b.Loop() {
		generate(1, 50_000, refNow)
	}
}

// BenchmarkListFiltered50k measures one uncached filtered page over 50k
// incidents: parse the query, evaluate CEL per record, sort, encode.
func BenchmarkListFiltered50k(b *testing.B) {
	s := New(Config{Seed: 1, Incidents: 50_000, Now: refNow})
	q := url.Values{
		"filter":   {`incident.severity in [INCIDENT_SEVERITY_LEVEL_HIGH] && "pii" in incident.tags`},
		"orderBy":  {"update_time desc"},
		"pageSize": {"100"},
	}
	for b.Loop() {
		s.mu.Lock()
		s.version++ // defeat the list cache
		s.mu.Unlock()
		if r := s.list(q); r.status != http.StatusOK {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
}
