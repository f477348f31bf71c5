package eset_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

var simNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type harness struct{}

type backend struct {
	*esetsim.Server
	rec *drivertest.WriteRecorder
}

func (b backend) Recorder() drivertest.Writes { return b.rec }
func (backend) Assignee() string              { return "5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60" }

// isWrite tells ESET's write calls: every POST but the sign-in.
func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/oauth/token")
}

func (backend) MissingID() string { return "00000000-0000-4000-8000-000000000000" }

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	sim := esetsim.New(esetsim.Config{Seed: 7, Incidents: 300, Now: simNow, RateLimit: -1})
	rec := drivertest.NewWriteRecorder(sim, isWrite)
	return newDriver(t, rec, nil), backend{sim, rec}
}

func newDriver(t testing.TB, h http.Handler, sleep func(context.Context, time.Duration) error) *eset.Driver {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if sleep == nil {
		sleep = func(context.Context, time.Duration) error { return nil }
	}
	d, err := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "demo", RateLimit: 1000, Common: descriptor.Common{Sleep: sleep}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  eset.Config
		want string
	}{
		{"no credentials", eset.Config{Region: "eu"}, "username and password"},
		{"bad region", eset.Config{Region: "mars", Username: "u", Password: "p"}, `unknown region "mars"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := eset.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	for _, r := range eset.Regions {
		if _, err := eset.New(eset.Config{Region: r, Username: "u", Password: "p"}); err != nil {
			t.Errorf("region %s: %v", r, err)
		}
	}
}

// recorder is a go-github style harness: it records each request and
// answers with the scripted responses in order.
type recorder struct {
	t    *testing.T
	reqs []*http.Request
	next []func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		r.ParseForm()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + r.PostForm.Get("grant_type"), "refresh_token": "r1", "token_type": "Bearer", "expires_in": 3600})
		return
	}
	rec.reqs = append(rec.reqs, r)
	if len(rec.next) == 0 {
		rec.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(500)
		return
	}
	h := rec.next[0]
	rec.next = rec.next[1:]
	h(w, r)
}

func TestListRequest(t *testing.T) {
	rec := &recorder{t: t, next: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("request-id", "rid-1")
			w.Write([]byte(`{"incidents":[{"uuid":"u1","displayName":"T","severity":"INCIDENT_SEVERITY_LEVEL_HIGH","status":"INCIDENT_STATUS_OPEN","createTime":"2026-11-19T10:00:00.123Z","metrics":{"deviceCount":2}}],"nextPageToken":"p2"}`))
		},
	}}
	d := newDriver(t, rec, nil)
	plan, err := d.Plan(driver.Query{Criteria: schema.Criteria{Statuses: []schema.Status{schema.StatusOpen}}, Order: schema.DefaultOrder, PageSize: 250})
	if err != nil {
		t.Fatal(err)
	}
	page, err := d.List(t.Context(), plan, "tok1")
	if err != nil {
		t.Fatal(err)
	}
	r := rec.reqs[0]
	wantQuery := url.Values{"filter": {"status == INCIDENT_STATUS_OPEN"}, "orderBy": {"create_time desc"}, "pageSize": {"250"}, "pageToken": {"tok1"}}
	if r.Method != http.MethodGet || r.URL.Path != "/v2/incidents" || r.URL.Query().Encode() != wantQuery.Encode() {
		t.Errorf("request = %s %s?%s, want GET /v2/incidents?%s", r.Method, r.URL.Path, r.URL.RawQuery, wantQuery.Encode())
	}
	if got := r.Header.Get("Authorization"); got != "Bearer tok-password" {
		t.Errorf("Authorization = %q", got)
	}
	if page.Next != "p2" || page.RequestID != "rid-1" || len(page.Incidents) != 1 {
		t.Fatalf("page = %+v", page)
	}
	inc := page.Incidents[0]
	if inc.ID != "u1" || inc.Severity != schema.SeverityHigh || inc.Status != schema.StatusOpen || *inc.Counts.Devices != 2 ||
		!inc.CreatedAt.Equal(time.Date(2026, 11, 19, 10, 0, 0, 123e6, time.UTC)) {
		t.Errorf("normalized = %+v", inc)
	}
}

func TestRetriesAndAsync(t *testing.T) {
	okBody := `{"incident":{"uuid":"5f2b9a43-0d5c-4a8e-9f6e-000000000001","displayName":"T","createTime":"2026-11-19T10:00:00Z","status":"INCIDENT_STATUS_OPEN","deviceUuids":["d1"]}}`
	ok := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(okBody)) }
	status := func(code int, hdr ...string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(code)
		}
	}
	for _, tc := range []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request)
		wantCode schema.Code
		check    func(t *testing.T, rec *recorder)
	}{
		{"429 then ok", []func(http.ResponseWriter, *http.Request){status(429), ok}, "", nil},
		{"503 then ok", []func(http.ResponseWriter, *http.Request){status(503), ok}, "", nil},
		{"401 re-auths once", []func(http.ResponseWriter, *http.Request){status(401), ok}, "", func(t *testing.T, rec *recorder) {
			if got := rec.reqs[1].Header.Get("Authorization"); got != "Bearer tok-refresh_token" {
				t.Errorf("retry after 401 used %q, want the refreshed token", got)
			}
		}},
		{"401 twice fails", []func(http.ResponseWriter, *http.Request){status(401), status(401)}, schema.CodeUnauthenticated, nil},
		{"202 collected with response-id", []func(http.ResponseWriter, *http.Request){status(202, "response-id", "resp-9"), status(202), ok}, "", func(t *testing.T, rec *recorder) {
			for _, r := range rec.reqs[1:] {
				if r.Header.Get("response-id") != "resp-9" || r.URL.Path != rec.reqs[0].URL.Path {
					t.Errorf("collection request %s with response-id %q", r.URL, r.Header.Get("response-id"))
				}
			}
		}},
		{"500 then ok", []func(http.ResponseWriter, *http.Request){status(500), ok}, "", nil},
		{"500 four times fails", []func(http.ResponseWriter, *http.Request){status(500), status(500), status(500), status(500)}, schema.CodeUnavailable, nil},
		{"404", []func(http.ResponseWriter, *http.Request){status(404)}, schema.CodeNotFound, nil},
		{"429 forever gives up", []func(http.ResponseWriter, *http.Request){status(429), status(429), status(429), status(429)}, schema.CodeRateLimited, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{t: t, next: tc.script}
			var slept atomic.Int64
			d := newDriver(t, rec, func(_ context.Context, dur time.Duration) error { slept.Add(int64(dur)); return nil })
			inc, err := d.Get(t.Context(), "5f2b9a43-0d5c-4a8e-9f6e-000000000001")
			if tc.wantCode != "" {
				if err == nil || d.ErrorCode(err) != tc.wantCode {
					t.Fatalf("Get() = %v (code %s), want code %s", err, d.ErrorCode(err), tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inc.ID != "5f2b9a43-0d5c-4a8e-9f6e-000000000001" || len(inc.Devices) != 1 || len(inc.Raw) == 0 {
				t.Errorf("incident = %+v", inc)
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
			if len(rec.next) != 0 {
				t.Errorf("%d scripted responses unused", len(rec.next))
			}
		})
	}
	t.Run("500 carries the request id", func(t *testing.T) {
		boom := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("request-id", "rid-500")
			w.WriteHeader(500)
			w.Write([]byte(`{"code":13,"message":"boom"}`))
		}
		rec := &recorder{t: t, next: []func(http.ResponseWriter, *http.Request){boom, boom, boom, boom}}
		_, err := newDriver(t, rec, nil).Get(t.Context(), "5f2b9a43-0d5c-4a8e-9f6e-000000000001")
		he, ok := errors.AsType[*driver.HTTPError](err)
		if !ok || he.RequestID != "rid-500" || he.Message != "boom" {
			t.Errorf("error = %#v", err)
		}
	})
}

func TestAuthAgainstSimulator(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 1, Incidents: 20, Now: simNow, RateLimit: -1})
	d := newDriver(t, sim, nil)
	plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 5})
	if _, err := d.List(t.Context(), plan, ""); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	if _, err := d.List(t.Context(), plan, ""); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	st := sim.Stats()
	if st.PasswordGrants != 1 || st.RefreshGrants != 1 {
		t.Errorf("grants: password %d refresh %d, want 1 and 1", st.PasswordGrants, st.RefreshGrants)
	}
	sim.SetAsync(2)
	if _, err := d.List(t.Context(), plan, ""); err != nil {
		t.Fatalf("with 202s: %v", err)
	}

	bad, err := eset.New(eset.Config{APIURL: "http://127.0.0.1:1", TokenURL: "http://127.0.0.1:1/oauth/token", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.List(t.Context(), plan, ""); err == nil || bad.ErrorCode(err) != schema.CodeUnavailable {
		t.Errorf("unreachable vendor: %v (code %s)", err, bad.ErrorCode(err))
	}
}

func TestWrongPassword(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 1, Incidents: 5, Now: simNow})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	d, _ := eset.New(eset.Config{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", Username: "demo", Password: "wrong"})
	_, err := d.Get(t.Context(), "5f2b9a43-0d5c-4a8e-9f6e-000000000001")
	if d.ErrorCode(err) != schema.CodeUnauthenticated || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong password: %v (code %s)", err, d.ErrorCode(err))
	}
}

// TestTokenRefreshIsSingleFlight: a token refused to many requests at once is
// refreshed once, not once per request.
func TestTokenRefreshIsSingleFlight(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 1, Incidents: 20, Now: simNow, RateLimit: -1})
	d := newDriver(t, sim, nil)
	plan, _ := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 5})
	if _, err := d.List(t.Context(), plan, ""); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := d.List(t.Context(), plan, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := sim.Stats(); st.PasswordGrants+st.RefreshGrants != 2 {
		t.Errorf("20 requests refused with one expired token made %d refresh and %d more password grants, want one grant after the first sign-in", st.RefreshGrants, st.PasswordGrants-1)
	}
}

// TestPagesOutliveTheirBodies: a list page's body buffer is reused for the
// next answer once decoded; the records of a page read earlier keep their
// values while later pages are read into it.
func TestPagesOutliveTheirBodies(t *testing.T) {
	sim := esetsim.New(esetsim.Config{Seed: 3, Incidents: 120, Now: simNow, RateLimit: -1})
	d := newDriver(t, sim, nil)
	plan, err := d.Plan(driver.Query{Order: schema.DefaultOrder, PageSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.List(t.Context(), plan, "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(first.Incidents)
	if err != nil {
		t.Fatal(err)
	}
	for pos := first.Next; pos != ""; {
		page, err := d.List(t.Context(), plan, pos)
		if err != nil {
			t.Fatal(err)
		}
		pos = page.Next
	}
	if got, _ := json.Marshal(first.Incidents); string(got) != string(want) {
		t.Errorf("the first page changed while later pages were read:\nbefore %s\nafter  %s", want, got)
	}
}
