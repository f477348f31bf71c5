package dlp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// fakeClock replaces the driver's clock: sleeping moves it forward at once.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts at the real time, so that context deadlines, which
// follow the real clock, and the driver's clock agree at first.
func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(max(d, 0))
}

// seen is one request as the vendor received it.
type seen struct {
	method, path, auth, body string
}

func (s seen) String() string { return s.method + " " + s.path + " " + s.body }

// recorder is a go-github style harness: it records every request, answers
// token exchanges with tok-1, tok-2, …, and API requests with the scripted
// handlers in order.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   []seen
	tokens int
	next   []http.HandlerFunc
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(body)})
	if strings.HasSuffix(r.URL.Path, "/auth/token/access") {
		rec.tokens++
		fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":900}`, rec.tokens)
		return
	}
	if len(rec.next) == 0 {
		rec.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h := rec.next[0]
	rec.next = rec.next[1:]
	h(w, r)
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

const record = `{"id":"incident-123","title":"Sensitive Data Access Violation","description":"d","severity":"high","status":"investigating",` +
	`"policy_id":"policy-456","policy_name":"Customer PII Protection","endpoint_id":"endpoint-789","endpoint_name":"DESKTOP-ABC123",` +
	`"user_id":"user-101","user_name":"john.doe@company.com","created_at":"2024-01-15T10:30:00Z","updated_at":"2024-01-15T11:45:00Z",` +
	`"tags":["data-breach","pii"],"details":{"file_path":"/Users/john.doe/customer_data.xlsx","action":"file_access","risk_score":85}}`

func reply(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func okList(extra string) http.HandlerFunc {
	return reply(200, `{"resources":[`+record+`],"size":1,"next_page_id":"p2","total_count":42,"errors":[`+extra+`]}`, "X-Request-Id", "rid-1")
}

func TestRequests(t *testing.T) {
	const key = "key-1"
	tokenReq := seen{"POST", "/v2/auth/token/access", "", `{"refresh_token":"key-1"}`}
	listPlan := func(d *dlp.Driver) *driver.Plan {
		p, err := d.Plan(driver.Query{
			Criteria: schema.Criteria{Severities: []schema.Severity{schema.SeverityHigh, schema.SeverityCritical}, Statuses: []schema.Status{schema.StatusOpen, schema.StatusInProgress}},
			Order:    schema.DefaultOrder, PageSize: 25,
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	listBody := `{"filters":{"severity":["high","critical"],"status":["open","investigating"]},"page_size":25,"page_id":"p1","sort_by":"created_at","sort_order":"desc"}`
	closed, tp := schema.StatusClosed, schema.ResolutionTruePositive
	note := "done"
	for _, tc := range []struct {
		name   string
		script []http.HandlerFunc
		call   func(ctx context.Context, d *dlp.Driver) (any, error)
		want   []seen // every request, token exchanges included
		code   schema.Code
		check  func(t *testing.T, out any, err error)
	}{
		{
			name:   "list",
			script: []http.HandlerFunc{okList(`{"code":0,"message":""}`)},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want:   []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody}},
			check: func(t *testing.T, out any, err error) {
				page := out.(*driver.Page)
				if page.Next != "p2" || !page.TotalKnown || page.Total != 42 || page.RequestID != "rid-1" || len(page.Warnings) != 0 || len(page.Incidents) != 1 {
					t.Fatalf("page = %+v", page)
				}
				inc := page.Incidents[0]
				if inc.ID != "incident-123" || inc.Status != schema.StatusInProgress || inc.Severity != schema.SeverityHigh ||
					inc.Policy.Name != "Customer PII Protection" || inc.Devices[0].ID != "endpoint-789" || inc.Users[0].Name != "john.doe@company.com" ||
					len(inc.Tags) != 2 || inc.Details != nil || inc.Raw != nil {
					t.Errorf("normalized = %+v", inc)
				}
			},
		},
		{
			name:   "errors array on 200 is a warning",
			script: []http.HandlerFunc{okList(`{"code":0,"message":""},{"code":500,"message":"partial results: shard 3 timed out"}`)},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want:   []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody}},
			check: func(t *testing.T, out any, err error) {
				page := out.(*driver.Page)
				if len(page.Warnings) != 1 || !strings.Contains(page.Warnings[0], "shard 3 timed out") || len(page.Incidents) != 1 {
					t.Errorf("warnings %q, %d incidents", page.Warnings, len(page.Incidents))
				}
			},
		},
		{
			name:   "get lists by incident_ids with details",
			script: []http.HandlerFunc{okList("")},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.Get(ctx, "incident-123") },
			want: []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1",
				`{"filters":{"incident_ids":["incident-123"]},"page_size":1,"include_details":true}`}},
			check: func(t *testing.T, out any, err error) {
				inc := out.(*schema.Incident)
				if inc.Details["file_path"] != "/Users/john.doe/customer_data.xlsx" || inc.Details["action"] != "file_access" ||
					inc.Details["risk_score"] != 85.0 || string(inc.Raw) != record {
					t.Errorf("got %+v\nraw %s", inc, inc.Raw)
				}
			},
		},
		{
			name:   "get of a missing id",
			script: []http.HandlerFunc{reply(200, `{"resources":[],"size":0,"total_count":0,"errors":[]}`)},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.Get(ctx, "incident-9") },
			want:   []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", `{"filters":{"incident_ids":["incident-9"]},"page_size":1,"include_details":true}`}},
			code:   schema.CodeNotFound,
		},
		{
			name:   "get never trusts another incident",
			script: []http.HandlerFunc{okList("")},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.Get(ctx, "incident-9") },
			want:   []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", `{"filters":{"incident_ids":["incident-9"]},"page_size":1,"include_details":true}`}},
			code:   schema.CodeNotFound,
		},
		{
			name:   "update",
			script: []http.HandlerFunc{reply(200, `{"resources":[`+strings.Replace(record, `"status":"investigating"`, `"status":"closed","close_reason":"valid","close_note":"done"`, 1)+`],"size":1,"total_count":1,"errors":[]}`, "X-Request-Id", "rid-9")},
			call: func(ctx context.Context, d *dlp.Driver) (any, error) {
				return d.Update(ctx, "incident-123", schema.Patch{Status: &closed, Resolution: &tp, Comment: &note})
			},
			want: []seen{tokenReq, {"PATCH", "/v2/incidents/incident-123", "Bearer tok-1", `{"status":"closed","close_reason":"valid","close_note":"done"}`}},
			check: func(t *testing.T, out any, err error) {
				res := out.(*driver.UpdateResult)
				if res.Incident.Status != schema.StatusClosed || res.Incident.Resolution != schema.ResolutionTruePositive ||
					len(res.Steps) != 1 || !res.Steps[0].OK || res.Steps[0].RequestID != "rid-9" {
					t.Errorf("result %+v, steps %+v", res.Incident, res.Steps)
				}
			},
		},
		{
			name:   "401 re-exchanges the key once",
			script: []http.HandlerFunc{reply(401, `{"errors":[{"code":401,"message":"invalid or expired token"}]}`), okList("")},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want: []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody},
				tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-2", listBody}},
		},
		{
			name:   "401 twice fails",
			script: []http.HandlerFunc{reply(401, `{"errors":[{"code":401,"message":"invalid or expired token"}]}`), reply(401, `{"errors":[{"code":401,"message":"invalid or expired token"}]}`)},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want: []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody},
				tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-2", listBody}},
			code: schema.CodeUnauthenticated,
		},
		{
			name:   "error body message",
			script: []http.HandlerFunc{reply(400, `{"errors":[{"code":400,"message":"invalid severity value \"x\""},{"code":400,"message":"unknown filter \"y\""}]}`, "X-Request-Id", "rid-4")},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want:   []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody}},
			code:   schema.CodeInvalidArgument,
			check: func(t *testing.T, out any, err error) {
				he, ok := errors.AsType[*driver.HTTPError](err)
				if !ok || he.Message != `invalid severity value "x"; unknown filter "y"` || he.RequestID != "rid-4" {
					t.Errorf("error %#v", err)
				}
			},
		},
		{
			name:   "403 on update names incident__update",
			script: []http.HandlerFunc{reply(403, `{"errors":[{"code":403,"message":"forbidden"}]}`)},
			call: func(ctx context.Context, d *dlp.Driver) (any, error) {
				return d.Update(ctx, "incident-123", schema.Patch{Status: &closed, Resolution: &tp})
			},
			want: []seen{tokenReq, {"PATCH", "/v2/incidents/incident-123", "Bearer tok-1", `{"status":"closed","close_reason":"valid"}`}},
			code: schema.CodePermissionDenied,
			check: func(t *testing.T, out any, err error) {
				if !strings.Contains(err.Error(), "incident__update") {
					t.Errorf("error %v", err)
				}
				if res := out.(*driver.UpdateResult); len(res.Steps) != 1 || res.Steps[0].OK || res.Steps[0].Error == "" {
					t.Errorf("steps %+v", res.Steps)
				}
			},
		},
		{
			name:   "503 on a list is retried",
			script: []http.HandlerFunc{reply(503, `{"errors":[{"code":503,"message":"maintenance"}]}`), okList("")},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want: []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody},
				{"POST", "/v2/incidents/list", "Bearer tok-1", listBody}},
		},
		{
			name:   "500 on a read is retried, then given up",
			script: []http.HandlerFunc{reply(500, `{"errors":[{"code":500,"message":"boom"}]}`), reply(500, `{}`), reply(500, `{}`)},
			call:   func(ctx context.Context, d *dlp.Driver) (any, error) { return d.List(ctx, listPlan(d), "p1") },
			want: []seen{tokenReq, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody},
				{"POST", "/v2/incidents/list", "Bearer tok-1", listBody}, {"POST", "/v2/incidents/list", "Bearer tok-1", listBody}},
			code: schema.CodeUnavailable,
		},
		{
			name:   "503 on a write is not retried",
			script: []http.HandlerFunc{reply(503, `{"errors":[{"code":503,"message":"maintenance"}]}`)},
			call: func(ctx context.Context, d *dlp.Driver) (any, error) {
				return d.Update(ctx, "incident-123", schema.Patch{Status: &closed, Resolution: &tp})
			},
			want: []seen{tokenReq, {"PATCH", "/v2/incidents/incident-123", "Bearer tok-1", `{"status":"closed","close_reason":"valid"}`}},
			code: schema.CodeUnavailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{t: t, next: tc.script}
			clock := newFakeClock()
			d := newDriver(t, rec, dlp.Config{APIKey: key, Common: descriptor.Common{Now: clock.Now, Sleep: clock.Sleep}})
			out, err := tc.call(t.Context(), d)
			if tc.code == "" && err != nil {
				t.Fatal(err)
			}
			if tc.code != "" && d.ErrorCode(err) != tc.code {
				t.Fatalf("error %v (code %s), want code %s", err, d.ErrorCode(err), tc.code)
			}
			got := rec.requests()
			for i := range max(len(got), len(tc.want)) {
				switch {
				case i >= len(got):
					t.Errorf("request %d missing: want %s", i, tc.want[i])
				case i >= len(tc.want):
					t.Errorf("request %d unexpected: %s", i, got[i])
				case got[i].method != tc.want[i].method || got[i].path != tc.want[i].path || got[i].body != tc.want[i].body ||
					tc.want[i].auth != "" && got[i].auth != tc.want[i].auth:
					t.Errorf("request %d\n got %s (auth %q)\nwant %s (auth %q)", i, got[i], got[i].auth, tc.want[i], tc.want[i].auth)
				}
			}
			if tc.check != nil {
				tc.check(t, out, err)
			}
		})
	}
}

// TestThrottling: a 429 is waited out until X-RateLimit-Reset, holds every
// call of the instance back meanwhile, and fails at once with a rate-limited
// error when the reset is past the deadline.
func TestThrottling(t *testing.T) {
	unix := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	for _, tc := range []struct {
		name      string
		remaining string
		reset     time.Duration // after the fake clock's start
		deadline  time.Duration // 0: none
		wantWait  time.Duration // the least the clock must move
		maxWait   time.Duration
		wantCode  schema.Code
	}{
		{"spent window waits for the reset", "0", 30 * time.Second, 0, 30 * time.Second, 31 * time.Second, ""},
		{"concurrency refusal backs off briefly", "17", 30 * time.Second, 0, 400 * time.Millisecond, time.Second, ""},
		{"reset past the deadline fails at once", "0", time.Hour, 10 * time.Second, 0, time.Second, schema.CodeRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			rec := &recorder{t: t, next: []http.HandlerFunc{
				reply(429, `{"errors":[{"code":429,"message":"rate limit exceeded"}]}`, "X-RateLimit-Remaining", tc.remaining, "X-RateLimit-Reset", unix(start.Add(tc.reset))),
				okList(""),
			}}
			d := newDriver(t, rec, dlp.Config{APIKey: "k", Common: descriptor.Common{Now: clock.Now, Sleep: clock.Sleep}, RateLimit: noLimit})
			plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
			ctx := t.Context()
			if tc.deadline > 0 {
				// The driver compares deadlines with its own clock.
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tc.deadline))
				defer cancel()
			}
			_, err := d.List(ctx, plan, "")
			waited := clock.Now().Sub(start)
			if tc.wantCode != "" {
				if d.ErrorCode(err) != tc.wantCode || !strings.Contains(err.Error(), "rate limited, retry after "+start.Add(tc.reset).UTC().Format(time.RFC3339)) {
					t.Errorf("error %v (code %s)", err, d.ErrorCode(err))
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if waited < tc.wantWait || waited > tc.maxWait {
				t.Errorf("waited %v, want %v to %v", waited, tc.wantWait, tc.maxWait)
			}
		})
	}
}

// TestTokenRenewal: a token is renewed shortly before it expires, not on
// every call and not only after a 401.
func TestTokenRenewal(t *testing.T) {
	clock := newFakeClock()
	rec := &recorder{t: t, next: []http.HandlerFunc{okList(""), okList(""), okList("")}}
	d := newDriver(t, rec, dlp.Config{APIKey: "k", Common: descriptor.Common{Now: clock.Now, Sleep: clock.Sleep}})
	plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 10})
	for _, step := range []time.Duration{0, 10 * time.Minute, 4*time.Minute + 30*time.Second} {
		clock.Advance(step)
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
	}
	var auths []string
	for _, r := range rec.requests() {
		if r.auth != "" {
			auths = append(auths, r.auth)
		}
	}
	// 14.5 minutes into a 15-minute token: inside the renewal margin.
	if want := []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}; strings.Join(auths, ",") != strings.Join(want, ",") {
		t.Errorf("tokens used %v, want %v", auths, want)
	}
}

func TestPlanNativeIsTheBody(t *testing.T) {
	rec := &recorder{t: t, next: []http.HandlerFunc{okList("")}}
	d := newDriver(t, rec, dlp.Config{APIKey: "k", RateLimit: noLimit})
	plan, _ := d.Plan(driver.Query{Criteria: schema.Criteria{Tags: []string{"pii"}}, Order: schema.Order{Key: schema.OrderSeverity}, PageSize: 7})
	if _, err := d.List(t.Context(), plan, ""); err != nil {
		t.Fatal(err)
	}
	native, _ := json.Marshal(plan.Native)
	if got := rec.requests()[1].body; got != string(native) {
		t.Errorf("sent %s, the plan echoes %s", got, native)
	}
}
