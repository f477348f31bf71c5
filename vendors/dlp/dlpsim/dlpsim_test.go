package dlpsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testConfig is a small tenant whose rate limit never gets in the way of tests
// that are not about rate limits.
func testConfig() Config {
	return Config{Seed: 7, Incidents: 400, Now: testNow, RateLimit: 1 << 30, MaxConcurrent: 64}
}

type client struct {
	t      *testing.T
	s      *Server
	base   string
	prefix string
	token  string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func start(t *testing.T, cfg Config) *client {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &client{t: t, s: s, base: ts.URL, prefix: s.PathPrefix()}
}

// startAuthed also exchanges the API key for a token.
func startAuthed(t *testing.T, cfg Config) *client {
	t.Helper()
	c := start(t, cfg)
	c.login()
	return c
}

func (c *client) login() {
	c.t.Helper()
	r := c.do(http.MethodPost, "/auth/token/access", map[string]any{"api_key": c.s.APIKey()})
	if r.status != http.StatusOK {
		c.t.Fatalf("token exchange: %d %s", r.status, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.decode(c.t, &tok)
	c.token = tok.AccessToken
}

// do sends a request below the prefix; body may be a string (sent verbatim) or
// any value (sent as JSON).
func (c *client) do(method, path string, body any) reply {
	c.t.Helper()
	return c.raw(method, c.prefix+path, body)
}

func (c *client) raw(method, path string, body any) reply {
	c.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		c.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

type listReply struct {
	Resources  []Incident `json:"resources"`
	Size       int        `json:"size"`
	NextPageID string     `json:"next_page_id"`
	TotalCount int        `json:"total_count"`
	Errors     []apiError `json:"errors"`
}

func (c *client) list(req map[string]any) listReply {
	c.t.Helper()
	r := c.do(http.MethodPost, "/incidents/list", req)
	if r.status != http.StatusOK {
		c.t.Fatalf("list %v: %d %s", req, r.status, r.body)
	}
	var lr listReply
	r.decode(c.t, &lr)
	if lr.Size != len(lr.Resources) {
		c.t.Fatalf("size %d but %d resources", lr.Size, len(lr.Resources))
	}
	return lr
}

// listAll follows next_page_id to the end and checks total_count on every page.
func (c *client) listAll(req map[string]any) []Incident {
	c.t.Helper()
	req = maps(req)
	var out []Incident
	total := -1
	for range 10_000 {
		lr := c.list(req)
		if total >= 0 && lr.TotalCount != total {
			c.t.Fatalf("total_count changed between pages: %d then %d", total, lr.TotalCount)
		}
		total = lr.TotalCount
		out = append(out, lr.Resources...)
		if lr.NextPageID == "" {
			if len(out) != total {
				c.t.Fatalf("paged %d incidents, total_count %d", len(out), total)
			}
			return out
		}
		if lr.Size == 0 {
			c.t.Fatal("empty page with a next_page_id")
		}
		req["page_id"] = lr.NextPageID
	}
	c.t.Fatal("paging did not end")
	return nil
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func ids(incs []Incident) []string {
	out := make([]string, len(incs))
	for i, x := range incs {
		out[i] = x.ID
	}
	return out
}

// brute is the reference: filter and sort the full dataset independently of the
// simulator's own filter code.
func brute(all []Incident, keep func(Incident) bool, sortBy string, desc bool) []string {
	var sel []Incident
	for _, x := range all {
		if keep(x) {
			sel = append(sel, x)
		}
	}
	rank := func(x Incident) int64 {
		switch sortBy {
		case "severity":
			return int64(slices.Index(Severities, x.Severity))
		case "status":
			return int64(slices.Index(Statuses, x.Status))
		}
		t, _ := time.Parse(time.RFC3339, x.CreatedAt)
		return t.Unix()
	}
	slices.SortFunc(sel, func(a, b Incident) int {
		c := compareKey(rank(a), a.ID, rank(b), b.ID)
		if desc {
			return -c
		}
		return c
	})
	return ids(sel)
}

func anyOf(vals []string, v string) bool { return len(vals) == 0 || slices.Contains(vals, v) }

func TestTokenExchange(t *testing.T) {
	cases := []struct {
		name   string
		method string
		body   any
		want   int
	}{
		{"api_key", http.MethodPost, map[string]any{"api_key": DefaultAPIKey}, 200},
		{"refresh_token", http.MethodPost, map[string]any{"refresh_token": DefaultAPIKey}, 200},
		{"extra fields tolerated", http.MethodPost, map[string]any{"refresh_token": DefaultAPIKey, "grant_type": "x"}, 200},
		{"wrong key", http.MethodPost, map[string]any{"api_key": "nope"}, 401},
		{"wrong refresh_token", http.MethodPost, map[string]any{"refresh_token": "nope"}, 401},
		{"no key", http.MethodPost, map[string]any{}, 400},
		{"not json", http.MethodPost, "api_key=demo-api-key", 400},
		{"GET", http.MethodGet, nil, 405},
	}
	c := start(t, testConfig())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, "/auth/token/access", tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want != 200 {
				assertErrorBody(t, r, tc.want)
				return
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			r.decode(t, &tok)
			if tok.AccessToken == "" || tok.ExpiresIn != 900 {
				t.Fatalf("token answer %s", r.body)
			}
			// The token opens the API.
			c2 := *c
			c2.t, c2.token = t, tok.AccessToken
			c2.list(map[string]any{"page_size": 1})
		})
	}

	t.Run("no or bad token", func(t *testing.T) {
		for _, tok := range []string{"", "bogus"} {
			c2 := *c
			c2.t, c2.token = t, tok
			r := c2.do(http.MethodPost, "/incidents/list", map[string]any{})
			if r.status != 401 || string(r.body) != `{"errors":[{"code":401,"message":"invalid or expired token"}]}` {
				t.Fatalf("token %q: %d %s", tok, r.status, r.body)
			}
		}
	})

	t.Run("ExpireTokens", func(t *testing.T) {
		c := startAuthed(t, testConfig())
		c.list(map[string]any{"page_size": 1})
		c.s.ExpireTokens()
		if r := c.do(http.MethodPost, "/incidents/list", nil); r.status != 401 {
			t.Fatalf("after ExpireTokens: %d", r.status)
		}
		c.login() // re-exchange works, as a driver does on 401
		c.list(map[string]any{"page_size": 1})
	})

	t.Run("TTL", func(t *testing.T) {
		cfg := testConfig()
		cfg.TokenTTL = 100 * time.Millisecond
		c := start(t, cfg)
		r := c.do(http.MethodPost, "/auth/token/access", map[string]any{"refresh_token": DefaultAPIKey})
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		r.decode(t, &tok)
		if tok.ExpiresIn != 1 { // rounded up: never promise less life than the token has
			t.Fatalf("expires_in %d for 100ms", tok.ExpiresIn)
		}
		c.token = tok.AccessToken
		c.list(map[string]any{"page_size": 1})
		time.Sleep(150 * time.Millisecond)
		if r := c.do(http.MethodPost, "/incidents/list", nil); r.status != 401 {
			t.Fatalf("expired token: %d", r.status)
		}
	})
}

func assertErrorBody(t *testing.T, r reply, code int) {
	t.Helper()
	var eb errorBody
	r.decode(t, &eb)
	if len(eb.Errors) == 0 {
		t.Fatalf("no errors in %s", r.body)
	}
	for _, e := range eb.Errors {
		if e.Code != code || e.Message == "" {
			t.Fatalf("error entry %+v in %s, want code %d", e, r.body, code)
		}
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestPathPrefixes(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	cases := []struct{ prefix, want, other string }{
		{"", "/v2", "/public/v2"},
		{"/public/v2", "/public/v2", "/v2"},
		{"public/v2/", "/public/v2", "/v2"},
	}
	for _, tc := range cases {
		t.Run(tc.want+"<-"+tc.prefix, func(t *testing.T) {
			cfg := testConfig()
			cfg.PathPrefix = tc.prefix
			c := startAuthed(t, cfg)
			if c.s.PathPrefix() != tc.want {
				t.Fatalf("prefix %q", c.s.PathPrefix())
			}
			if lr := c.list(map[string]any{}); lr.TotalCount != 400 {
				t.Fatalf("total %d", lr.TotalCount)
			}
			if r := c.raw(http.MethodPost, tc.other+"/incidents/list", map[string]any{}); r.status != 404 {
				t.Fatalf("other prefix answered %d", r.status)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	id := c.s.Incidents()[0].ID
	cases := []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodGet, "/v2/incidents/list", 405, "POST"},
		{http.MethodPatch, "/v2/incidents/list", 405, "POST"},
		{http.MethodGet, "/v2/auth/token/access", 405, "POST"},
		{http.MethodGet, "/v2/incidents/" + id, 405, "PATCH"},
		{http.MethodDelete, "/v2/incidents/" + id, 405, "PATCH"},
		{http.MethodPost, "/v2/incidents", 404, ""},
		{http.MethodPost, "/v2/incidents/", 404, ""},
		{http.MethodPatch, "/v2/incidents/a/b", 404, ""},
		{http.MethodPost, "/v2/incidents/list/", 404, ""},
		{http.MethodPost, "/v3/incidents/list", 404, ""},
		{http.MethodGet, "/", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := c.raw(tc.method, tc.path, "{}")
			if r.status != tc.want {
				t.Fatalf("status %d, want %d", r.status, tc.want)
			}
			assertErrorBody(t, r, tc.want)
			if r.header.Get("Allow") != tc.allow {
				t.Fatalf("Allow %q, want %q", r.header.Get("Allow"), tc.allow)
			}
		})
	}
}

func TestFilterSemantics(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	// Pick real values so every filter matches something.
	x, y, z := all[10], all[200], all[333]
	mid, _ := time.Parse(time.RFC3339, all[150].CreatedAt)
	late, _ := time.Parse(time.RFC3339, all[300].CreatedAt)
	berlin := time.FixedZone("CEST", 2*3600)

	type f = map[string]any
	cases := []struct {
		name    string
		filters f
		keep    func(Incident) bool
	}{
		{"none", nil, func(Incident) bool { return true }},
		{"severity any-of", f{"severity": []string{"high", "critical"}},
			func(i Incident) bool { return i.Severity == "high" || i.Severity == "critical" }},
		{"informational", f{"severity": []string{"informational"}},
			func(i Incident) bool { return i.Severity == "informational" }},
		{"status any-of", f{"status": []string{"open", "investigating"}},
			func(i Incident) bool { return anyOf([]string{"open", "investigating"}, i.Status) }},
		{"resolved", f{"status": []string{"resolved"}}, func(i Incident) bool { return i.Status == "resolved" }},
		{"policy_ids", f{"policy_ids": []string{x.PolicyID, y.PolicyID, "policy-nope"}},
			func(i Incident) bool { return i.PolicyID == x.PolicyID || i.PolicyID == y.PolicyID }},
		{"endpoint_ids", f{"endpoint_ids": []string{x.EndpointID, z.EndpointID}},
			func(i Incident) bool { return i.EndpointID == x.EndpointID || i.EndpointID == z.EndpointID }},
		{"user_ids", f{"user_ids": []string{y.UserID, z.UserID}},
			func(i Incident) bool { return i.UserID == y.UserID || i.UserID == z.UserID }},
		{"tags any-of", f{"tags": []string{"usb", "phi"}},
			func(i Incident) bool { return slices.Contains(i.Tags, "usb") || slices.Contains(i.Tags, "phi") }},
		{"incident_ids", f{"incident_ids": []string{x.ID, z.ID, "incident-0"}},
			func(i Incident) bool { return i.ID == x.ID || i.ID == z.ID }},
		{"created window", f{"created_after": mid.Format(time.RFC3339), "created_before": late.Format(time.RFC3339)},
			func(i Incident) bool {
				t, _ := time.Parse(time.RFC3339, i.CreatedAt)
				return t.After(mid) && t.Before(late)
			}},
		{"created window with offsets", f{"created_after": mid.In(berlin).Format(time.RFC3339), "created_before": late.In(berlin).Format(time.RFC3339Nano)},
			func(i Incident) bool {
				t, _ := time.Parse(time.RFC3339, i.CreatedAt)
				return t.After(mid) && t.Before(late)
			}},
		{"fields AND", f{"severity": []string{"medium", "high", "critical"}, "status": []string{"open", "closed"}, "tags": []string{"pii", "usb", "cloud-upload"}, "created_after": mid.Format(time.RFC3339)},
			func(i Incident) bool {
				t, _ := time.Parse(time.RFC3339, i.CreatedAt)
				return anyOf([]string{"medium", "high", "critical"}, i.Severity) && anyOf([]string{"open", "closed"}, i.Status) &&
					slices.ContainsFunc(i.Tags, func(s string) bool { return anyOf([]string{"pii", "usb", "cloud-upload"}, s) }) && t.After(mid)
			}},
		{"empty arrays are no filter", f{"severity": []string{}, "status": []string{}, "policy_ids": []string{}, "endpoint_ids": []string{}, "user_ids": []string{}, "tags": []string{}, "incident_ids": []string{}},
			func(Incident) bool { return true }},
		{"null arrays are no filter", f{"severity": nil, "tags": nil, "created_after": ""},
			func(Incident) bool { return true }},
		{"empty array beside a real one", f{"severity": []string{}, "status": []string{"closed"}},
			func(i Incident) bool { return i.Status == "closed" }},
		{"nothing matches", f{"user_ids": []string{"user-nobody"}}, func(Incident) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.t = t
			want := brute(all, tc.keep, "created_at", true)
			got := ids(c.listAll(map[string]any{"filters": tc.filters, "page_size": 37}))
			if !slices.Equal(got, want) {
				t.Fatalf("got %d ids, want %d\n got %v\nwant %v", len(got), len(want), head(got), head(want))
			}
			if tc.name != "none" && tc.name != "nothing matches" && !strings.Contains(tc.name, "no filter") && (len(want) == 0 || len(want) == len(all)) {
				t.Fatalf("filter is not selective: %d of %d", len(want), len(all))
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 8)] }

// TestTimeBoundsExclusive pins the documented assumption about created_after and
// created_before, including incidents that share a creation second.
func TestTimeBoundsExclusive(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	at := all[123].CreatedAt
	ts, _ := time.Parse(time.RFC3339, at)
	var same []string
	for _, x := range all {
		if x.CreatedAt == at {
			same = append(same, x.ID)
		}
	}
	sec := time.Second
	cases := []struct {
		name           string
		after, before  string
		includesTarget bool
	}{
		{"after equal excludes", at, "", !CreatedAfterExclusive},
		{"before equal excludes", "", at, !CreatedBeforeExclusive},
		{"after a second earlier includes", ts.Add(-sec).Format(time.RFC3339), "", true},
		{"before a second later includes", "", ts.Add(sec).Format(time.RFC3339), true},
		{"tight window", ts.Add(-sec).Format(time.RFC3339), ts.Add(sec).Format(time.RFC3339), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.t = t
			got := ids(c.listAll(map[string]any{"filters": map[string]any{"created_after": tc.after, "created_before": tc.before}, "page_size": 100}))
			for _, id := range same {
				if slices.Contains(got, id) != tc.includesTarget {
					t.Fatalf("%s included=%v, want %v", id, !tc.includesTarget, tc.includesTarget)
				}
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	cases := []struct {
		name, body, want string
	}{
		{"not json", `{"filters":`, "JSON object"},
		{"array body", `[]`, "JSON object"},
		{"unknown top-level field", `{"limit":10}`, `unknown field "limit"`},
		{"unknown filter key", `{"filters":{"colour":["red"]}}`, `unknown filter "colour"`},
		{"filters not an object", `{"filters":["high"]}`, "filters must be an object"},
		{"bad severity", `{"filters":{"severity":["high","urgent"]}}`, `invalid severity value "urgent"`},
		{"severity is case-sensitive", `{"filters":{"severity":["HIGH"]}}`, `invalid severity value "HIGH"`},
		{"bad status", `{"filters":{"status":["new"]}}`, `invalid status value "new"`},
		{"severity not an array", `{"filters":{"severity":"high"}}`, "filters.severity"},
		{"created_after unparsable", `{"filters":{"created_after":"yesterday"}}`, "created_after"},
		{"created_before unparsable", `{"filters":{"created_before":"2024-13-01T00:00:00Z"}}`, "created_before"},
		{"date without time", `{"filters":{"created_after":"2024-01-01"}}`, "created_after"},
		{"page_size too big", `{"page_size":101}`, "page_size"},
		{"page_size negative", `{"page_size":-1}`, "page_size"},
		{"page_size a string", `{"page_size":"10"}`, "page_size"},
		{"sort_by unknown", `{"sort_by":"title"}`, "sort_by"},
		{"sort_order unknown", `{"sort_order":"up"}`, "sort_order"},
		{"page_id garbage", `{"page_id":"garbage"}`, "invalid page_id"},
		{"include_details a string", `{"include_details":"yes"}`, "include_details"},
		{"several problems at once", `{"page_size":500,"sort_by":"x","filters":{"severity":["x"]}}`, "page_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPost, "/incidents/list", tc.body)
			if r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			assertErrorBody(t, r, 400)
			var eb errorBody
			r.decode(t, &eb)
			if !slices.ContainsFunc(eb.Errors, func(e apiError) bool { return strings.Contains(e.Message, tc.want) }) {
				t.Fatalf("errors %+v do not mention %q", eb.Errors, tc.want)
			}
		})
	}
	t.Run("every problem reported", func(t *testing.T) {
		var eb errorBody
		c.do(http.MethodPost, "/incidents/list", `{"page_size":500,"sort_by":"x","filters":{"severity":["x"]}}`).decode(t, &eb)
		if len(eb.Errors) != 3 {
			t.Fatalf("errors %+v", eb.Errors)
		}
	})
	t.Run("empty body is all defaults", func(t *testing.T) {
		r := c.do(http.MethodPost, "/incidents/list", "")
		var lr listReply
		r.decode(t, &lr)
		if r.status != 200 || lr.Size != DefaultPageSize || lr.TotalCount != 400 || lr.Errors == nil || len(lr.Errors) != 0 {
			t.Fatalf("%d size %d total %d errors %v", r.status, lr.Size, lr.TotalCount, lr.Errors)
		}
	})
}

func TestPaging(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	for _, size := range []int{1, 7, 50, 100} {
		t.Run("page_size "+strconv.Itoa(size), func(t *testing.T) {
			c := *c
			c.t = t
			got := c.listAll(map[string]any{"page_size": size, "sort_order": "asc"})
			seen := map[string]bool{}
			for _, x := range got {
				if seen[x.ID] {
					t.Fatalf("%s twice", x.ID)
				}
				seen[x.ID] = true
			}
			if len(seen) != len(all) {
				t.Fatalf("saw %d of %d", len(seen), len(all))
			}
		})
	}
	t.Run("default page size and last page", func(t *testing.T) {
		lr := c.list(map[string]any{"page_size": 0})
		if lr.Size != 50 || lr.NextPageID == "" || lr.TotalCount != 400 {
			t.Fatalf("size %d next %q total %d", lr.Size, lr.NextPageID, lr.TotalCount)
		}
		lr = c.list(map[string]any{"page_size": 100, "filters": map[string]any{"severity": []string{"critical"}}})
		if lr.NextPageID != "" || lr.Size != lr.TotalCount {
			t.Fatalf("one-page answer: size %d total %d next %q", lr.Size, lr.TotalCount, lr.NextPageID)
		}
	})

	first := c.list(map[string]any{"page_size": 10, "filters": map[string]any{"status": []string{"open", "closed"}}})
	mismatch := []struct {
		name string
		req  map[string]any
		ok   bool
	}{
		{"same query", map[string]any{"filters": map[string]any{"status": []string{"open", "closed"}}}, true},
		{"same filter, arrays reordered and page size changed", map[string]any{"page_size": 3, "filters": map[string]any{"status": []string{"closed", "open", "open"}}}, true},
		{"other filter", map[string]any{"filters": map[string]any{"status": []string{"open"}}}, false},
		{"filter dropped", map[string]any{}, false},
		{"other sort key", map[string]any{"sort_by": "severity", "filters": map[string]any{"status": []string{"open", "closed"}}}, false},
		{"other sort order", map[string]any{"sort_order": "asc", "filters": map[string]any{"status": []string{"open", "closed"}}}, false},
		{"tampered", map[string]any{"filters": map[string]any{"status": []string{"open", "closed"}}, "page_id": tamper(first.NextPageID)}, false},
	}
	for _, tc := range mismatch {
		t.Run("page_id "+tc.name, func(t *testing.T) {
			if _, ok := tc.req["page_id"]; !ok {
				tc.req["page_id"] = first.NextPageID
			}
			r := c.do(http.MethodPost, "/incidents/list", tc.req)
			if (r.status == 200) != tc.ok {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if !tc.ok {
				assertErrorBody(t, r, 400)
			}
		})
	}

	t.Run("stable while incidents change", func(t *testing.T) {
		// Keyset page ids: closing incidents between pages neither skips nor repeats any.
		c := startAuthed(t, testConfig())
		req := map[string]any{"page_size": 25}
		seen := map[string]int{}
		for {
			lr := c.list(req)
			for _, x := range lr.Resources {
				seen[x.ID]++
				if x.Status == "open" {
					r := c.do(http.MethodPatch, "/incidents/"+x.ID, map[string]any{"status": "closed", "close_reason": "valid"})
					if r.status != 200 {
						t.Fatalf("patch: %d %s", r.status, r.body)
					}
				}
			}
			if lr.NextPageID == "" {
				break
			}
			req["page_id"] = lr.NextPageID
		}
		if len(seen) != 400 {
			t.Fatalf("saw %d", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s seen %d times", id, n)
			}
		}
	})
}

func tamper(s string) string {
	b := []byte(s)
	if b[3] == 'A' {
		b[3] = 'B'
	} else {
		b[3] = 'A'
	}
	return string(b)
}

func TestSorting(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	for _, by := range []string{"", "created_at", "severity", "status"} {
		for _, order := range []string{"", "asc", "desc"} {
			t.Run(by+"/"+order, func(t *testing.T) {
				c := *c
				c.t = t
				req := map[string]any{"page_size": 33}
				if by != "" {
					req["sort_by"] = by
				}
				if order != "" {
					req["sort_order"] = order
				}
				key := by
				if key == "" {
					key = "created_at"
				}
				want := brute(all, func(Incident) bool { return true }, key, order != "asc")
				if got := ids(c.listAll(req)); !slices.Equal(got, want) {
					t.Fatalf("order differs\n got %v\nwant %v", head(got), head(want))
				}
			})
		}
	}
	t.Run("dataset has created_at ties to break", func(t *testing.T) {
		n := 0
		for i := 1; i < len(all); i++ {
			if all[i].CreatedAt == all[i-1].CreatedAt {
				n++
			}
		}
		if n == 0 {
			t.Fatal("no ties: the id tie-break is untested")
		}
	})
}

func TestIncludeDetails(t *testing.T) {
	t.Parallel() // no timing assertions: overlap with the other dataset-heavy tests
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	byID := map[string]Incident{}
	for _, x := range all {
		byID[x.ID] = x
	}
	t.Run("with", func(t *testing.T) {
		lr := c.list(map[string]any{"include_details": true, "page_size": 100})
		for _, x := range lr.Resources {
			for _, k := range []string{"file_path", "file_name", "action", "risk_score", "destination", "content_types"} {
				if _, ok := x.Details[k]; !ok {
					t.Fatalf("%s details lack %s: %v", x.ID, k, x.Details)
				}
			}
			if !reflect.DeepEqual(x, byID[x.ID]) {
				t.Fatalf("wire and Incidents() differ:\n%#v\n%#v", x, byID[x.ID])
			}
		}
	})
	t.Run("without", func(t *testing.T) {
		r := c.do(http.MethodPost, "/incidents/list", map[string]any{"page_size": 100})
		if bytes.Contains(r.body, []byte(`"details"`)) {
			t.Fatal("details sent without include_details")
		}
		var raw struct {
			Resources []map[string]any `json:"resources"`
		}
		r.decode(t, &raw)
		for _, k := range []string{"id", "title", "description", "severity", "status", "policy_id", "policy_name", "endpoint_id", "endpoint_name", "user_id", "user_name", "created_at", "updated_at", "tags"} {
			if _, ok := raw.Resources[0][k]; !ok {
				t.Fatalf("field %s missing: %v", k, raw.Resources[0])
			}
		}
	})
	t.Run("Incidents is a deep copy", func(t *testing.T) {
		a := c.s.Incidents()
		a[0].Tags = append(a[0].Tags[:0], "mutated")
		a[0].Details["file_path"] = "mutated"
		a[0].Details["content_types"].([]any)[0] = "mutated"
		if b := c.s.Incidents(); !reflect.DeepEqual(b[0], all[0]) {
			t.Fatal("mutating the copy changed the dataset")
		}
	})
}

func TestGetOneByIncidentIDs(t *testing.T) {
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	for _, i := range []int{0, 199, 399} {
		t.Run(all[i].ID, func(t *testing.T) {
			lr := c.list(map[string]any{"filters": map[string]any{"incident_ids": []string{all[i].ID}}, "include_details": true})
			if lr.TotalCount != 1 || lr.Size != 1 || !reflect.DeepEqual(lr.Resources[0], all[i]) || lr.NextPageID != "" {
				t.Fatalf("got %+v", lr)
			}
		})
	}
	t.Run("unknown id is an empty page, not an error", func(t *testing.T) {
		lr := c.list(map[string]any{"filters": map[string]any{"incident_ids": []string{"incident-1"}}})
		if lr.TotalCount != 0 || lr.Resources == nil || len(lr.Resources) != 0 {
			t.Fatalf("got %+v", lr)
		}
	})
}

func TestUpdate(t *testing.T) {
	c := startAuthed(t, testConfig())
	all := c.s.Incidents()
	find := func(status string, n int) string {
		for _, x := range all {
			if x.Status == status {
				if n == 0 {
					return x.ID
				}
				n--
			}
		}
		t.Fatalf("no %s incident", status)
		return ""
	}
	open, open2, inv, resolved, closed := find("open", 0), find("open", 1), find("investigating", 0), find("resolved", 0), find("closed", 0)

	type f = map[string]any
	cases := []struct {
		name   string
		id     string
		body   any
		status int
		check  func(t *testing.T, x Incident)
	}{
		{"close without reason", open, f{"status": "closed"}, 400, nil},
		{"close with bad reason", open, f{"status": "closed", "close_reason": "invalid_data_mislabeled"}, 400, nil},
		{"reason without closing", open, f{"close_reason": "valid"}, 400, nil},
		{"note without closing", inv, f{"close_note": "x"}, 400, nil},
		{"reason while reopening", closed, f{"status": "open", "close_reason": "valid"}, 400, nil},
		{"status resolved not settable", open, f{"status": "resolved"}, 400, nil},
		{"status investigating not settable", open, f{"status": "investigating"}, 400, nil},
		{"unknown field", open, f{"severity": "low"}, 400, nil},
		{"status not a string", open, f{"status": 1}, 400, nil},
		{"null assignee", open, f{"assigned_to": nil}, 400, nil},
		{"malformed assignee", open, f{"assigned_to": "not-an-email"}, 400, nil},
		{"assignee with display name", open, f{"assigned_to": "Bob <bob@company.com>"}, 400, nil},
		{"assignee without dotted domain", open, f{"assigned_to": "bob@localhost"}, 400, nil},
		{"empty patch", open, f{}, 400, nil},
		{"not json", open, `{"status":`, 400, nil},
		{"unknown id", "incident-1", f{"assigned_to": "bob@company.com"}, 404, nil},
		{"assign", open, f{"assigned_to": "bob@company.com"}, 200, func(t *testing.T, x Incident) {
			if x.AssignedTo != "bob@company.com" || x.Status != "open" {
				t.Fatalf("%+v", x)
			}
		}},
		{"close with reason and note", open, f{"status": "closed", "close_reason": "invalid_data_mislabled", "close_note": "Test data — «ok»"}, 200, func(t *testing.T, x Incident) {
			if x.Status != "closed" || x.CloseReason != "invalid_data_mislabled" || x.CloseNote != "Test data — «ok»" {
				t.Fatalf("%+v", x)
			}
		}},
		{"note on a closed one", open, f{"close_note": "second thoughts"}, 200, func(t *testing.T, x Incident) {
			if x.CloseNote != "second thoughts" || x.CloseReason != "invalid_data_mislabled" {
				t.Fatalf("%+v", x)
			}
		}},
		{"reason on a closed one", closed, f{"close_reason": "invalid_other"}, 200, func(t *testing.T, x Incident) {
			if x.CloseReason != "invalid_other" {
				t.Fatalf("%+v", x)
			}
		}},
		{"reopen clears close fields", open, f{"status": "open"}, 200, func(t *testing.T, x Incident) {
			if x.Status != "open" || x.CloseReason != "" || x.CloseNote != "" || x.AssignedTo != "bob@company.com" {
				t.Fatalf("%+v", x)
			}
		}},
		{"reopen resolved", resolved, f{"status": "open"}, 200, func(t *testing.T, x Incident) {
			if x.Status != "open" {
				t.Fatalf("%+v", x)
			}
		}},
		{"close investigating", inv, f{"status": "closed", "close_reason": "valid"}, 200, func(t *testing.T, x Incident) {
			if x.Status != "closed" || x.CloseNote != "" {
				t.Fatalf("%+v", x)
			}
		}},
		{"unassign", open2, f{"assigned_to": ""}, 200, func(t *testing.T, x Incident) {
			if x.AssignedTo != "" {
				t.Fatalf("%+v", x)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.t = t
			before := c.list(map[string]any{"filters": map[string]any{"incident_ids": []string{tc.id}}}).Resources
			r := c.do(http.MethodPatch, "/incidents/"+tc.id, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			after := c.list(map[string]any{"filters": map[string]any{"incident_ids": []string{tc.id}}}).Resources
			if tc.status != 200 {
				assertErrorBody(t, r, tc.status)
				if !reflect.DeepEqual(before, after) {
					t.Fatal("a refused update changed the incident")
				}
				return
			}
			var lr listReply
			r.decode(t, &lr)
			if lr.Size != 1 || len(lr.Resources) != 1 || lr.NextPageID != "" || lr.Errors == nil {
				t.Fatalf("envelope %s", r.body)
			}
			got := lr.Resources[0]
			tc.check(t, got)
			if !reflect.DeepEqual(got, after[0]) {
				t.Fatalf("read-back differs:\n%+v\n%+v", got, after[0])
			}
			tb, _ := time.Parse(time.RFC3339Nano, before[0].UpdatedAt)
			ta, _ := time.Parse(time.RFC3339Nano, got.UpdatedAt)
			if !ta.After(tb) {
				t.Fatalf("updated_at %s -> %s", before[0].UpdatedAt, got.UpdatedAt)
			}
			if _, err := time.Parse(UpdatedAtLayout, got.UpdatedAt); err != nil || !strings.Contains(got.UpdatedAt, ".") {
				t.Fatalf("updated_at %q: %v", got.UpdatedAt, err)
			}
		})
	}
	t.Run("status sort and filters see updates", func(t *testing.T) {
		now := c.s.Incidents()
		want := brute(now, func(Incident) bool { return true }, "status", false)
		if got := ids(c.listAll(map[string]any{"sort_by": "status", "sort_order": "asc", "page_size": 100})); !slices.Equal(got, want) {
			t.Fatal("status order stale after updates")
		}
		want = brute(now, func(i Incident) bool { return i.Status == "closed" }, "created_at", true)
		if got := ids(c.listAll(map[string]any{"filters": map[string]any{"status": []string{"closed"}}, "page_size": 100})); !slices.Equal(got, want) {
			t.Fatal("status filter stale after updates")
		}
	})
	t.Run("403 mode", func(t *testing.T) {
		c.s.DenyUpdates(true)
		r := c.do(http.MethodPatch, "/incidents/"+open, map[string]any{"assigned_to": "eve@company.com"})
		if r.status != 403 || !strings.Contains(string(r.body), "incident__update") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		assertErrorBody(t, r, 403)
		c.list(map[string]any{"page_size": 1}) // reads still work
		c.s.DenyUpdates(false)
		if r := c.do(http.MethodPatch, "/incidents/"+open, map[string]any{"assigned_to": "eve@company.com"}); r.status != 200 {
			t.Fatalf("after DenyUpdates(false): %d", r.status)
		}
		c.s.DenyReads(true)
		if r := c.do(http.MethodPost, "/incidents/list", nil); r.status != 403 || !strings.Contains(string(r.body), "incident__read") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		c.s.DenyReads(false)
	})
}

func TestPartialError(t *testing.T) {
	c := startAuthed(t, testConfig())
	c.s.SetPartialError("shard eu-2 timed out; results may be incomplete")
	// A refused request does not consume the pending partial error.
	if r := c.do(http.MethodPost, "/incidents/list", `{"page_size":1000}`); r.status != 400 {
		t.Fatal(r.status)
	}
	lr := c.list(map[string]any{"page_size": 5})
	if lr.Size != 5 || len(lr.Errors) != 1 || lr.Errors[0].Code != PartialErrorCode || !strings.Contains(lr.Errors[0].Message, "eu-2") {
		t.Fatalf("partial answer %+v", lr)
	}
	if lr = c.list(map[string]any{"page_size": 5}); len(lr.Errors) != 0 {
		t.Fatalf("partial error persisted: %+v", lr.Errors)
	}
}

func TestFailNext(t *testing.T) {
	cases := []struct {
		status, n int
	}{{500, 1}, {503, 2}, {401, 1}, {429, 1}, {502, 3}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d x%d", tc.status, tc.n), func(t *testing.T) {
			c := start(t, testConfig())
			c.s.FailNext(tc.status, tc.n)
			c.login() // the token exchange is not an injected-fault target
			for range tc.n {
				r := c.do(http.MethodPost, "/incidents/list", nil)
				if r.status != tc.status {
					t.Fatalf("status %d, want %d", r.status, tc.status)
				}
				assertErrorBody(t, r, tc.status)
				if tc.status == 429 {
					reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
					if r.header.Get("X-RateLimit-Remaining") != "0" || reset < time.Now().Unix() || reset > time.Now().Unix()+2 {
						t.Fatalf("429 headers %v", r.header)
					}
				}
			}
			c.list(map[string]any{"page_size": 1})
			if st := c.s.Stats(); tc.status == 429 && st.TooMany != 1 {
				t.Fatalf("TooMany %d", st.TooMany)
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		c := startAuthed(t, testConfig())
		c.s.FailNext(500, 5)
		c.s.FailNext(500, 0)
		c.list(map[string]any{"page_size": 1})
	})
}

// alignToWindow waits for the start of a fresh rate window so a burst of
// requests cannot straddle two windows.
func alignToWindow(w time.Duration) {
	now := time.Now().UnixNano()
	next := (now/int64(w) + 1) * int64(w)
	time.Sleep(time.Duration(next-now) + 2*time.Millisecond)
}

func TestRateLimit(t *testing.T) {
	const window = 200 * time.Millisecond
	cfg := testConfig()
	cfg.RateLimit, cfg.RateWindow = 5, window
	c := start(t, cfg)

	alignToWindow(window)
	c.login() // accepted request 1 of this window: token exchanges count
	var codes []int
	var remaining []string
	var resets []int64
	for range 7 {
		r := c.do(http.MethodPost, "/incidents/list", map[string]any{"page_size": 1})
		codes = append(codes, r.status)
		remaining = append(remaining, r.header.Get("X-RateLimit-Remaining"))
		reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil {
			t.Fatalf("X-RateLimit-Reset %q", r.header.Get("X-RateLimit-Reset"))
		}
		resets = append(resets, reset)
		if r.status == 429 {
			assertErrorBody(t, r, 429)
		}
	}
	if want := []int{200, 200, 200, 200, 429, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if want := []string{"3", "2", "1", "0", "0", "0", "0"}; !slices.Equal(remaining, want) {
		t.Fatalf("remaining %v, want %v", remaining, want)
	}
	end := (time.Now().UnixNano()/int64(window) + 1) * int64(window)
	wantReset := (end + int64(time.Second) - 1) / int64(time.Second) // the window end, rounded up
	for _, r := range resets {
		if r != wantReset {
			t.Fatalf("resets %v, want %d", resets, wantReset)
		}
	}
	// A token exchange is refused too once the window is spent.
	if r := c.do(http.MethodPost, "/auth/token/access", map[string]any{"api_key": DefaultAPIKey}); r.status != 429 {
		t.Fatalf("token in spent window: %d", r.status)
	}

	alignToWindow(window)
	if r := c.do(http.MethodPost, "/incidents/list", map[string]any{"page_size": 1}); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("new window: %d remaining %q", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	st := c.s.Stats()
	if st.MaxInWindow != 5 || st.TooMany != 4 || st.TokenRequests != 2 || st.Requests != 10 {
		t.Fatalf("stats %+v", st)
	}
	if st.ByPath["/v2/incidents/list"] != 8 || st.ByPath["/v2/auth/token/access"] != 2 {
		t.Fatalf("ByPath %v", st.ByPath)
	}

	t.Run("default window ends on a whole minute", func(t *testing.T) {
		c := startAuthed(t, Config{Seed: 1, Incidents: 10, Now: testNow})
		r := c.do(http.MethodPost, "/incidents/list", nil)
		reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		now := time.Now().Unix()
		if reset%60 != 0 || reset <= now-1 || reset > now+60 || r.header.Get("X-RateLimit-Remaining") != "58" {
			t.Fatalf("reset %d now %d remaining %s", reset, now, r.header.Get("X-RateLimit-Remaining"))
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConcurrent = 5
	cfg.Latency = 150 * time.Millisecond

	t.Run("burst", func(t *testing.T) {
		c := startAuthed(t, cfg)
		const n = 20
		var wg sync.WaitGroup
		gate := make(chan struct{})
		codes := make([]int, n)
		for i := range n {
			wg.Go(func() {
				<-gate
				codes[i] = c.do(http.MethodPost, "/incidents/list", map[string]any{"page_size": 1}).status
			})
		}
		close(gate)
		wg.Wait()
		ok, tooMany := 0, 0
		for _, s := range codes {
			switch s {
			case 200:
				ok++
			case 429:
				tooMany++
			default:
				t.Fatalf("status %d", s)
			}
		}
		st := c.s.Stats()
		if ok < 5 || tooMany == 0 || st.MaxConcurrentSeen != 5 || st.TooMany != tooMany {
			t.Fatalf("ok %d 429 %d stats %+v", ok, tooMany, st)
		}
	})

	t.Run("per endpoint", func(t *testing.T) {
		c := startAuthed(t, Config{Seed: 7, Incidents: 50, Now: testNow, RateLimit: 1000, MaxConcurrent: 5, Latency: 400 * time.Millisecond})
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { c.do(http.MethodPost, "/incidents/list", nil) })
		}
		deadline := time.Now().Add(5 * time.Second)
		for c.s.Stats().MaxConcurrentSeen < 5 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		r := c.do(http.MethodPost, "/incidents/list", nil)
		if r.status != 429 {
			t.Fatalf("6th list: %d", r.status)
		}
		if rem := r.header.Get("X-RateLimit-Remaining"); rem == "0" || rem == "" {
			t.Fatalf("concurrency 429 should show the true remaining quota, got %q", rem)
		}
		id := c.s.Incidents()[0].ID
		if r := c.do(http.MethodPatch, "/incidents/"+id, map[string]any{"assigned_to": "bob@company.com"}); r.status != 200 {
			t.Fatalf("PATCH beside 5 lists: %d", r.status)
		}
		wg.Wait()
	})

	t.Run("well-behaved workers are never refused", func(t *testing.T) {
		cfg := cfg
		cfg.Latency = 3 * time.Millisecond
		c := startAuthed(t, cfg)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []int
		for range 5 {
			wg.Go(func() {
				for range 10 {
					if s := c.do(http.MethodPost, "/incidents/list", map[string]any{"page_size": 1}).status; s != 200 {
						mu.Lock()
						bad = append(bad, s)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if len(bad) > 0 || c.s.Stats().MaxConcurrentSeen > 5 {
			t.Fatalf("refused %v, stats %+v", bad, c.s.Stats())
		}
	})
}

func TestDataset(t *testing.T) {
	a := New(Config{Seed: 42, Now: testNow}).Incidents()
	b := New(Config{Seed: 42, Now: testNow}).Incidents()
	other := New(Config{Seed: 43, Now: testNow}).Incidents()
	if len(a) != DefaultIncidents || !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different data")
	}
	if reflect.DeepEqual(ids(a), ids(other)) {
		t.Fatal("different seeds, same data")
	}
	if n := len(New(Config{Incidents: -1, Now: testNow}).Incidents()); n != 0 {
		t.Fatalf("negative size gave %d incidents", n)
	}

	t.Run("invariants", func(t *testing.T) {
		seen := map[string]bool{}
		counts := map[string]int{}
		policyNames := map[string]string{}
		nonASCII, quoted := 0, 0
		prev := ""
		for _, x := range a {
			if seen[x.ID] {
				t.Fatalf("duplicate id %s", x.ID)
			}
			seen[x.ID] = true
			ct, err1 := time.Parse(time.RFC3339, x.CreatedAt)
			ut, err2 := time.Parse(time.RFC3339, x.UpdatedAt)
			if err1 != nil || err2 != nil || !ct.After(testNow.Add(-DatasetSpan)) || !ct.Before(testNow) || ut.Before(ct) || ut.After(testNow) {
				t.Fatalf("times %s %s", x.CreatedAt, x.UpdatedAt)
			}
			if x.CreatedAt < prev {
				t.Fatal("not in creation order")
			}
			prev = x.CreatedAt
			counts["sev:"+x.Severity]++
			counts["status:"+x.Status]++
			if !slices.Contains(Severities, x.Severity) || !slices.Contains(Statuses, x.Status) {
				t.Fatalf("enum %s %s", x.Severity, x.Status)
			}
			if (x.Status == "closed") != (x.CloseReason != "") || x.CloseNote != "" && x.Status != "closed" {
				t.Fatalf("close fields on %s: %q %q", x.Status, x.CloseReason, x.CloseNote)
			}
			if x.CloseReason != "" && !slices.Contains(CloseReasons, x.CloseReason) {
				t.Fatalf("close_reason %q", x.CloseReason)
			}
			if x.AssignedTo != "" && !validEmail(x.AssignedTo) || !validEmail(x.UserName) {
				t.Fatalf("e-mails %q %q", x.AssignedTo, x.UserName)
			}
			if x.Tags == nil || x.Details["file_path"] == nil || x.Details["risk_score"] == nil || x.Details["action"] == nil {
				t.Fatalf("incomplete %+v", x)
			}
			if old, ok := policyNames[x.PolicyID]; ok && old != x.PolicyName {
				t.Fatalf("policy %s has two names", x.PolicyID)
			}
			policyNames[x.PolicyID] = x.PolicyName
			if !utf8.ValidString(x.Title) || !utf8.ValidString(x.Description) {
				t.Fatal("invalid UTF-8")
			}
			for _, r := range x.Title {
				if r > 127 {
					nonASCII++
					break
				}
			}
			if strings.ContainsAny(x.Title, `"'`) {
				quoted++
			}
			counts["assigned"] += min(len(x.AssignedTo), 1)
		}
		for _, k := range append(prefixed("sev:", Severities), prefixed("status:", Statuses)...) {
			if counts[k] == 0 {
				t.Fatalf("no %s in %v", k, counts)
			}
		}
		if len(policyNames) < 10 || nonASCII == 0 || quoted == 0 || counts["assigned"] == 0 {
			t.Fatalf("policies %d nonASCII %d quoted %d assigned %d", len(policyNames), nonASCII, quoted, counts["assigned"])
		}
		t.Logf("%v", counts)
	})

	t.Run("zero Now is the current second", func(t *testing.T) {
		before := time.Now().UTC().Truncate(time.Second)
		s := New(Config{Incidents: 20})
		for _, x := range s.Incidents() {
			ct, _ := time.Parse(time.RFC3339, x.CreatedAt)
			if ct.Before(before.Add(-DatasetSpan)) || ct.After(time.Now()) {
				t.Fatalf("created %s", x.CreatedAt)
			}
		}
	})

	// How fast 50k records build is BenchmarkDataset50k's business; this
	// checks that a large dataset pages and counts correctly.
	t.Run("50k pages", func(t *testing.T) {
		c := startAuthed(t, Config{Seed: 1, Incidents: 50_000, Now: testNow, RateLimit: 1 << 30})
		lr := c.list(map[string]any{"page_size": 100, "sort_by": "status", "filters": map[string]any{"severity": []string{"high"}}})
		lr = c.list(map[string]any{"page_size": 100, "sort_by": "status", "page_id": lr.NextPageID, "filters": map[string]any{"severity": []string{"high"}}})
		if lr.Size != 100 || lr.TotalCount < 5000 {
			t.Fatalf("size %d total %d", lr.Size, lr.TotalCount)
		}
	})
}

// BenchmarkDataset50k measures building a 50k-record dataset (target: well
// under 3 s per op on one core without the race detector).
func BenchmarkDataset50k(b *testing.B) {
	for b.Loop() {
		New(Config{Seed: 1, Incidents: 50_000, Now: testNow})
	}
}

func prefixed(p string, vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = p + v
	}
	return out
}
