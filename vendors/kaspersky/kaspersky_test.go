package kaspersky_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/drivertest"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

var simNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const simIncidents = 300

type harness struct{}

type backend struct {
	*kasperskysim.Server
	rec *drivertest.WriteRecorder
}

func (b backend) Recorder() drivertest.Writes { return b.rec }
func (backend) Assignee() string              { return "" } // no assignees through the API

// isWrite tells Kaspersky's one write call, the close.
func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/incidents/close")
}

// MissingID is a well-formed UUID of no incident.
func (backend) MissingID() string { return "00000000-0000-4000-8000-000000000000" }

func (harness) MakeDriver(t *testing.T) (driver.Driver, drivertest.Backend) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 7, Incidents: simIncidents, Now: simNow})
	rec := drivertest.NewWriteRecorder(sim, isWrite)
	return newSimDriver(t, rec, kaspersky.Config{}), backend{sim, rec}
}

// newSimDriver serves h and points a driver at it; cfg's BaseURL and Token
// default to the server and the simulator's demo token.
func newSimDriver(t testing.TB, h http.Handler, cfg kaspersky.Config) *kaspersky.Driver {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.Token == "" {
		cfg.Token = kasperskysim.DefaultToken
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return simNow }
	}
	d, err := kaspersky.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kaspersky.SetSleep(d, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
	return d
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness{})
}

// readable is the simulator's dataset as the demo token may see it.
func readable(sim *kasperskysim.Server) []kasperskysim.Incident {
	rights := map[string]bool{}
	for _, tn := range sim.Tenants() {
		rights[tn.ID] = tn.Name != kasperskysim.TenantRestricted
	}
	return slices.DeleteFunc(sim.Incidents(), func(in kasperskysim.Incident) bool { return !rights[in.TenantID] })
}

// TestTitleLiteralsEndToEnd: a title filter with PCRE metacharacters, a
// backslash path, a control character or non-ASCII text selects exactly the
// titles that contain that text, in any case, and the simulator's regex
// engine agrees.
func TestTitleLiteralsEndToEnd(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 3, Incidents: simIncidents, Now: simNow})
	d := newSimDriver(t, sim, kaspersky.Config{})
	data := readable(sim)
	for _, needle := range []string{
		`a.b*(c)[d]+$`,
		`A.B*(C)[D]+$`,
		`.b*(`,
		`C:\Windows\Temp\x.exe (dropper)`,
		`50% match | rule?`,
		`^anchored {2,3} \d+`,
		"Tab\tseparated: cmd.exe /c \"whoami\"",
		`доступ к c:\users\иван`,
		`(ÄÖÜ, 日本語)`,
		"Mimikatz-like",
		"powershell",
	} {
		t.Run(needle, func(t *testing.T) {
			var want []string
			for _, in := range data {
				if filter.ContainsFold(in.Name, needle) {
					want = append(want, in.InternalID)
				}
			}
			if len(want) == 0 {
				t.Fatalf("the dataset has no title containing %q", needle)
			}
			got, plan, err := drivertest.ListAll(t.Context(), d, driver.Query{Criteria: schema.Criteria{TitleContains: needle}, Order: schema.DefaultOrder})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, inc := range got {
				ids = append(ids, inc.ID)
			}
			slices.Sort(want)
			slices.Sort(ids)
			if !slices.Equal(ids, want) {
				t.Errorf("name %q selected %d incidents, want exactly the %d whose title contains %q", plan.Native.(kaspersky.NativeRequest).Name, len(ids), len(want), needle)
			}
		})
	}
}

// TestEquivalenceThroughService lists through the portable service, page
// by page with cursors, and compares every result with the CEL program run
// over the whole dataset: at least 50 filters, incl. device and user ones,
// which need assets in the list.
func TestEquivalenceThroughService(t *testing.T) {
	// 250 incidents: three upstream pages, so results cross page boundaries.
	sim := kasperskysim.New(kasperskysim.Config{Seed: 11, Incidents: 250, Now: simNow})
	d := newSimDriver(t, sim, kaspersky.Config{})
	all, _, err := drivertest.ListAll(t.Context(), d, driver.Query{Order: schema.DefaultOrder, Fields: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	const inst = "kaspersky"
	for i := range all {
		all[i].ID, all[i].Instance = schema.JoinID(inst, all[i].ID), inst
	}
	filters := drivertest.Filters(all, simNow)
	for i := range 3 {
		inc := all[(i*131+17)%len(all)]
		filters[fmt.Sprint("extra severity+status ", i)] = schema.Filter{Severity: []string{string(inc.Severity)}, Status: []string{string(inc.Status)}}
		filters[fmt.Sprint("extra title word ", i)] = schema.Filter{TitleContains: strings.Fields(inc.Title)[0]}
		filters[fmt.Sprint("extra updated_after ", i)] = schema.Filter{UpdatedAfter: inc.UpdatedAt.Format(time.RFC3339Nano)}
		filters[fmt.Sprint("extra created window ", i)] = schema.Filter{CreatedAfter: inc.CreatedAt.Add(-5 * 24 * time.Hour).Format(time.RFC3339), CreatedBefore: inc.CreatedAt.Format(time.RFC3339Nano)}
		if len(inc.Devices) > 1 {
			filters[fmt.Sprint("extra devices ", i)] = schema.Filter{DeviceIDs: []string{inc.Devices[1].ID, "no-such-device"}, MinSeverity: "low"}
		}
		if len(inc.Users) > 0 {
			filters[fmt.Sprint("extra user ", i)] = schema.Filter{UserIDs: []string{inc.Users[0].ID}}
		}
		if inc.Assignee != nil {
			filters[fmt.Sprint("extra assignee+tenant ", i)] = schema.Filter{Assignee: inc.Assignee.ID, Tenant: inc.Tenant}
		}
	}
	if len(filters) < 50 {
		t.Fatalf("only %d filters", len(filters))
	}
	sealer, err := incidents.NewSealer(bytes.Repeat([]byte("k"), incidents.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incidents.New([]*incidents.Instance{{Name: inst, Driver: d}}, sealer, slog.New(slog.DiscardHandler),
		incidents.WithClock(func() time.Time { return simNow }))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(filters)) {
		f := filters[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prog, err := filter.Compile(f, "", simNow)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for i := range all {
				if ok, _ := prog.Match(t.Context(), &all[i]); ok {
					want[all[i].ID] = true
				}
			}
			got := map[string]bool{}
			var listed []schema.Incident
			var total *int
			cursor := ""
			for calls := 0; ; calls++ {
				if calls > 50 {
					t.Fatal("more than 50 calls")
				}
				res, err := svc.Query(t.Context(), incidents.QueryRequest{Instances: []string{inst}, Filter: f, PageSize: 45, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, inc := range res.Incidents {
					if got[inc.ID] {
						t.Fatalf("%s listed twice", inc.ID)
					}
					got[inc.ID] = true
				}
				listed = append(listed, res.Incidents...)
				if res.Total != nil {
					total = res.Total
				}
				if res.Query.Sorted {
					for i := 1; i < len(listed); i++ {
						if listed[i-1].CreatedAt.Before(listed[i].CreatedAt) {
							t.Fatalf("result claims %s order but %s precedes %s", res.Query.OrderBy, listed[i-1].ID, listed[i].ID)
						}
					}
				}
				if res.NextCursor == "" {
					break
				}
				cursor = res.NextCursor
			}
			if !maps.Equal(got, want) {
				t.Errorf("service listed %d incidents, the CEL program over the dataset selects %d", len(got), len(want))
			}
			if total != nil && *total != len(want) {
				t.Errorf("total = %d, want %d", *total, len(want))
			}
		})
	}
}

func TestGetAgainstSimulator(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 5, Incidents: 50, Now: simNow})
	d := newSimDriver(t, sim, kaspersky.Config{})
	want := readable(sim)[7]
	inc, err := d.Get(t.Context(), want.InternalID)
	if err != nil {
		t.Fatal(err)
	}
	var hosts, users int
	for _, a := range want.Assets {
		switch a.Type {
		case "host":
			hosts++
		case "user":
			users++
		}
	}
	if inc.ID != want.InternalID || inc.Number != fmt.Sprint(want.ID) || inc.Tenant != want.TenantID || inc.Title != want.Name ||
		len(inc.Devices) != hosts || len(inc.Users) != users || len(inc.AlertIDs) != len(want.AlertIDs) ||
		*inc.Counts.Alerts != int64(len(want.AlertIDs)) || inc.Mitre == nil || len(inc.Mitre.Techniques) != len(want.MITRETechniques) ||
		inc.Priority != want.Priority || !inc.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("Get = %+v\nvendor record %+v", inc, want)
	}
	if inc.Devices[0].ID != want.Assets[0].ID || inc.Devices[0].Name != want.Assets[0].HostInfo.DisplayName {
		t.Errorf("device %+v, want id %s name %s", inc.Devices[0], want.Assets[0].ID, want.Assets[0].HostInfo.DisplayName)
	}
	for _, k := range []string{"rules", "observables", "detection_technologies", "history", "assets"} {
		if inc.Details[k] == nil {
			t.Errorf("Details lacks %s: %v", k, slices.Sorted(maps.Keys(inc.Details)))
		}
	}
	var raw kasperskysim.Incident
	if err := json.Unmarshal(inc.Raw, &raw); err != nil || raw.InternalID != want.InternalID || len(raw.HistoryRecords) == 0 || len(raw.Assets) == 0 {
		t.Errorf("Raw is not the vendor's full record: %v", err)
	}
	if q := sim.Stats().LastQuery; !strings.Contains(q, "withAffected") || !strings.Contains(q, "withHistory") {
		t.Errorf("get query %s", q)
	}

	t.Run("restricted tenant's incident is not found", func(t *testing.T) {
		var hidden string
		for _, in := range sim.Incidents() {
			if !slices.ContainsFunc(readable(sim), func(r kasperskysim.Incident) bool { return r.InternalID == in.InternalID }) {
				hidden = in.InternalID
				break
			}
		}
		if _, err := d.Get(t.Context(), hidden); d.ErrorCode(err) != schema.CodeNotFound {
			t.Errorf("Get(restricted) = %v", err)
		}
	})
	t.Run("not a UUID", func(t *testing.T) {
		_, err := d.Get(t.Context(), "42")
		if d.ErrorCode(err) != schema.CodeNotFound || !strings.Contains(err.Error(), "UUID") {
			t.Errorf("Get(42) = %v", err)
		}
	})
}

func TestTenantsAgainstSimulator(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 5, Incidents: 50, Now: simNow})
	ts := sim.Tenants()
	var restricted, eu kasperskysim.Tenant
	for _, tn := range ts {
		switch tn.Name {
		case kasperskysim.TenantRestricted:
			restricted = tn
		case kasperskysim.TenantBranchEU:
			eu = tn
		}
	}
	for _, tc := range []struct {
		name    string
		tenants []string
		tenant  string
		code    schema.Code
	}{
		{name: "discovered, one tenant", tenant: eu.ID},
		{name: "discovered, restricted tenant refused", tenant: restricted.ID, code: schema.CodeInvalidArgument},
		{name: "discovered, a name is no ID", tenant: eu.Name, code: schema.CodeInvalidArgument},
		{name: "configured, outside the list", tenants: []string{eu.ID}, tenant: ts[0].ID, code: schema.CodeInvalidArgument},
		{name: "configured restricted tenant fails at the vendor", tenants: []string{restricted.ID}, code: schema.CodePermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newSimDriver(t, sim, kaspersky.Config{Tenants: tc.tenants})
			got, _, err := drivertest.ListAll(t.Context(), d, driver.Query{Criteria: schema.Criteria{Tenant: tc.tenant}})
			if tc.code != "" {
				if d.ErrorCode(err) != tc.code {
					t.Fatalf("err = %v (code %s), want %s", err, d.ErrorCode(err), tc.code)
				}
				if tc.code == schema.CodeInvalidArgument && !strings.Contains(err.Error(), eu.ID) {
					t.Errorf("error does not name the readable tenants: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, inc := range got {
				if inc.Tenant != tc.tenant {
					t.Fatalf("incident of tenant %s listed", inc.Tenant)
				}
			}
			if len(got) == 0 {
				t.Fatal("nothing listed")
			}
			if n := sim.Stats().ByPath[kasperskysim.PathTenants]; n != 1 {
				t.Errorf("tenants discovered %d times", n)
			}
		})
	}
}

func TestUpdateAgainstSimulator(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 5, Incidents: 80, Now: simNow})
	d := newSimDriver(t, sim, kaspersky.Config{})
	var open, closed kasperskysim.Incident
	for _, in := range readable(sim) {
		switch {
		case in.Status == kasperskysim.StatusOpen && open.InternalID == "":
			open = in
		case in.Status == kasperskysim.StatusClosed && in.StatusResolution == kasperskysim.ResolutionTruePositive && closed.InternalID == "":
			closed = in
		}
	}
	st := func(s schema.Status) *schema.Status { return &s }
	res := func(r schema.Resolution) *schema.Resolution { return &r }
	title := "new title"
	closes := func() int { return sim.Stats().ByPath[kasperskysim.PathClose] }

	t.Run("refused before any call", func(t *testing.T) {
		before := sim.Stats().Requests
		for _, p := range []schema.Patch{
			{Title: &title},
			{Status: st(schema.StatusOpen)},
			{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionMerged)},
		} {
			_, err := d.Update(t.Context(), open.InternalID, p)
			if d.ErrorCode(err) != schema.CodeUnsupported || !strings.Contains(err.Error(), "close") {
				t.Errorf("Update(%+v) = %v", p, err)
			}
		}
		if n := sim.Stats().Requests; n != before {
			t.Errorf("%d calls made for refused patches", n-before)
		}
	})
	t.Run("close", func(t *testing.T) {
		r, err := d.Update(t.Context(), open.InternalID, schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionFalsePositive)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Incident == nil || r.Incident.Status != schema.StatusClosed || r.Incident.Resolution != schema.ResolutionFalsePositive {
			t.Errorf("after close: %+v", r.Incident)
		}
		// Reads are not steps: the close is the one write.
		if len(r.Steps) != 1 || !strings.HasPrefix(r.Steps[0].Call, "POST /xdr/api/v1/incidents/close") || !r.Steps[0].OK {
			t.Errorf("steps %+v", r.Steps)
		}
		if closes() != 1 {
			t.Errorf("%d close calls", closes())
		}
	})
	t.Run("closing again the same way writes nothing", func(t *testing.T) {
		r, err := d.Update(t.Context(), closed.InternalID, schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionTruePositive)})
		if err != nil || r.Incident == nil || closes() != 1 {
			t.Errorf("Update = %+v, %v; %d close calls", r, err, closes())
		}
	})
	t.Run("another resolution on a closed incident", func(t *testing.T) {
		_, err := d.Update(t.Context(), closed.InternalID, schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionLowPriority)})
		if d.ErrorCode(err) != schema.CodeFailedPrecondition || closes() != 1 {
			t.Errorf("Update = %v (code %s); %d close calls", err, d.ErrorCode(err), closes())
		}
	})
	t.Run("missing incident", func(t *testing.T) {
		r, err := d.Update(t.Context(), backend{}.MissingID(), schema.Patch{Status: st(schema.StatusClosed), Resolution: res(schema.ResolutionTruePositive)})
		if d.ErrorCode(err) != schema.CodeNotFound || r == nil || len(r.Steps) != 0 {
			t.Errorf("Update = %+v, %v", r, err)
		}
	})
}

func TestRetriesAgainstSimulator(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 5, Incidents: 20, Now: simNow})
	d := newSimDriver(t, sim, kaspersky.Config{})
	plan, err := d.Plan(driver.Query{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("500s then an answer", func(t *testing.T) {
		sim.FailNext(500, 2)
		if _, err := d.List(t.Context(), plan, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the deadline bounds the backoff", func(t *testing.T) {
		real := newSimDriver(t, sim, kaspersky.Config{})
		kaspersky.SetSleep(real, func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		sim.FailNext(503, 100)
		defer sim.FailNext(503, 0)
		start := time.Now()
		_, err := real.List(ctx, plan, "")
		if real.ErrorCode(err) != schema.CodeUnavailable || time.Since(start) > time.Second {
			t.Errorf("List = %v after %v", err, time.Since(start))
		}
	})
}

// ---- go-github style: a mux, and assertions on what the driver sends ----

const testToken = "tok-123"

var tenantIDs = []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"}

// setup returns a driver pointed at a fresh mux. With tenants nil the
// driver discovers them.
func setup(t *testing.T, tenants []string) (*kaspersky.Driver, *http.ServeMux) {
	t.Helper()
	mux := http.NewServeMux()
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization = %q", got)
		}
		mux.ServeHTTP(w, r)
	})
	return newSimDriver(t, authed, kaspersky.Config{Token: testToken, Tenants: tenants}), mux
}

func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if r.Method != want {
		t.Errorf("method = %s, want %s", r.Method, want)
	}
}

func testQuery(t *testing.T, r *http.Request, want map[string][]string) {
	t.Helper()
	got := r.URL.Query()
	if !maps.EqualFunc(map[string][]string(got), want, slices.Equal) {
		t.Errorf("query\n got %v\nwant %v", got, want)
	}
}

func testBody(t *testing.T, r recorded, want string) {
	t.Helper()
	if r.body != want {
		t.Errorf("body\n got %s\nwant %s", r.body, want)
	}
}

const (
	incID    = "a1b2c3d4-0000-4000-8000-00000000000a"
	recordJS = `{"ID":42,"InternalID":"` + incID + `","TenantID":"22222222-2222-4222-8222-222222222222","Name":"Ransomware on WS-1","Description":"d",
"Assets":[{"ID":"h1","Name":"asset name","Type":"host","IsAttacker":true,"HostInfo":{"DisplayName":"WS-1","IpAddress":["10.0.0.5"],"OS":"Windows 11"}},
 {"ID":"u1","Name":"jsmith","Type":"user","IsVictim":true,"UserInfo":{"displayName":"John Smith","domain":"CORP","samAccountName":"jsmith"}},
 {"ID":"h2","Name":"bare host","Type":"host"}],
"AlertIDs":["al-1","al-2"],"Assignee":{"ID":"an-1","Name":"Maria"},"CreatedAt":"2026-11-19T10:00:00.123Z","UpdatedAt":"2026-11-19T11:00:00.000Z",
"StatusChangedAt":"","MITRETactics":[{"ID":"TA0040"}],"MITRETechniques":[{"ID":"T1486"}],"Rules":[{"ID":"r1","Name":"Mass encryption","Severity":"high","Confidence":"high"}],
"Observables":[{"Type":"md5","Value":"abc","Details":"C:\\x.exe"}],"DetectionTechnologies":["IOA"],"ExternalRef":"ITSM-1","Severity":"critical","Status":"%s",
"StatusResolution":"%s","Priority":"high","HistoryRecords":[{"entityID":"` + incID + `","entityKind":"Incident","type":"incidentCreated","createdAt":"2026-11-19T10:00:00.123Z","params":{}}]}`
)

func record(status, resolution string) string { return fmt.Sprintf(recordJS, status, resolution) }

// recorded answers scripted requests and keeps what the driver sent.
type recorded struct {
	req  *http.Request
	body string
}

// script registers h at path on mux and returns the requests it saw; read
// them once the driver's calls have returned.
func script(t *testing.T, mux *http.ServeMux, path string, h func(w http.ResponseWriter, r *http.Request)) *[]recorded {
	t.Helper()
	var seen []recorded
	var mu sync.Mutex
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		mu.Lock()
		seen = append(seen, recorded{r, strings.TrimSpace(buf.String())})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		h(w, r)
	})
	return &seen
}

func TestListRequest(t *testing.T) {
	page := func(n, total int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"ID":%d,"InternalID":"%08d-0000-4000-8000-000000000000","Name":"t","Status":"open","Severity":"low","CreatedAt":"2026-11-19T10:00:00Z"}`, i+1, i)
		}
		return fmt.Sprintf(`{"Total":%d,"Incidents":[%s]}`, total, strings.Join(items, ","))
	}
	for _, tc := range []struct {
		name     string
		crit     schema.Criteria
		pos      string
		answer   string
		want     map[string][]string
		wantNext string
	}{
		{"open is new, tenants repeat", schema.Criteria{Statuses: []schema.Status{schema.StatusOpen, schema.StatusOnHold}}, "", page(1, 1),
			map[string][]string{"tenantID": tenantIDs, "status": {"new", "hold"}, "page": {"1"}}, ""},
		{"full page with more", schema.Criteria{}, "", page(100, 250),
			map[string][]string{"tenantID": tenantIDs, "page": {"1"}}, "2"},
		{"page 3 is the last", schema.Criteria{}, "3", page(50, 250),
			map[string][]string{"tenantID": tenantIDs, "page": {"3"}}, ""},
		{"a full page reaching Total is the last", schema.Criteria{}, "2", page(100, 200),
			map[string][]string{"tenantID": tenantIDs, "page": {"2"}}, ""},
		{"no Total: a full page is not the last", schema.Criteria{}, "1", strings.Replace(page(100, 0), `"Total":0,`, "", 1),
			map[string][]string{"tenantID": tenantIDs, "page": {"1"}}, "2"},
		{"a Total below what was served is not trusted", schema.Criteria{}, "1", page(100, 7),
			map[string][]string{"tenantID": tenantIDs, "page": {"1"}}, "2"},
		{"everything pushable", schema.Criteria{Statuses: []schema.Status{schema.StatusClosed}, IDs: []string{incID}, TitleContains: "x.y", Tenant: tenantIDs[1],
			UpdatedAfter: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), DeviceIDs: []string{"h1"}}, "", page(1, 1),
			map[string][]string{"tenantID": {tenantIDs[1]}, "status": {"closed"}, "id": {incID}, "name": {`(?i)x\.y`},
				"timestampField": {"updatedAt"}, "from": {"2026-10-31T23:59:59Z"}, "withAffected": {"true"}, "page": {"1"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, mux := setup(t, tenantIDs)
			seen := script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tc.answer) })
			plan, err := d.Plan(driver.Query{Criteria: tc.crit, Order: schema.DefaultOrder})
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.List(t.Context(), plan, tc.pos)
			if err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 1 {
				t.Fatalf("%d requests", len(*seen))
			}
			r := (*seen)[0]
			testMethod(t, r.req, http.MethodGet)
			testQuery(t, r.req, tc.want)
			trusted := !strings.HasPrefix(tc.name, "no Total") && !strings.HasSuffix(tc.name, "not trusted")
			if got.Next != tc.wantNext || got.TotalKnown != trusted || got.RawBytes != len(tc.answer) {
				t.Errorf("Next = %q TotalKnown=%v RawBytes=%d, want %q", got.Next, got.TotalKnown, got.RawBytes, tc.wantNext)
			}
		})
	}
	t.Run("a position that is no page number", func(t *testing.T) {
		d, _ := setup(t, tenantIDs)
		plan, _ := d.Plan(driver.Query{})
		if _, err := d.List(t.Context(), plan, "0"); err == nil {
			t.Error("List at page 0 succeeded")
		}
	})
}

func TestGetRequest(t *testing.T) {
	d, mux := setup(t, tenantIDs)
	seen := script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Total":1,"Incidents":[%s]}`, record("closed", "merged"))
	})
	inc, err := d.Get(t.Context(), incID)
	if err != nil {
		t.Fatal(err)
	}
	r := (*seen)[0]
	testMethod(t, r.req, http.MethodGet)
	testQuery(t, r.req, map[string][]string{"id": {incID}, "tenantID": tenantIDs, "withAffected": {"true"}, "withHistory": {"true"}, "page": {"1"}})

	want := schema.Incident{
		ID: incID, Vendor: "kaspersky", Tenant: tenantIDs[1], Number: "42", Title: "Ransomware on WS-1", Description: "d",
		Severity: schema.SeverityCritical, VendorSeverity: "critical", Status: schema.StatusClosed, VendorStatus: "closed",
		Resolution: schema.ResolutionMerged, Priority: "high", Assignee: &schema.Ref{ID: "an-1", Name: "Maria"},
		CreatedAt: time.Date(2026, 11, 19, 10, 0, 0, 123e6, time.UTC), UpdatedAt: time.Date(2026, 11, 19, 11, 0, 0, 0, time.UTC),
		Devices:  []schema.Ref{{ID: "h1", Name: "WS-1"}, {ID: "h2", Name: "bare host"}},
		Users:    []schema.Ref{{ID: "u1", Name: "John Smith"}},
		AlertIDs: []string{"al-1", "al-2"}, Mitre: &schema.Mitre{Tactics: []string{"TA0040"}, Techniques: []string{"T1486"}},
	}
	two := int64(2)
	want.Counts = &schema.Counts{Alerts: &two}
	gotCore := *inc
	gotCore.Details, gotCore.Raw = nil, nil
	gj, _ := json.Marshal(gotCore)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("normalized\n got %s\nwant %s", gj, wj)
	}
	dj, _ := json.Marshal(inc.Details)
	for _, s := range []string{`"rules":[{"id":"r1","name":"Mass encryption"`, `"observables":[{"type":"md5"`, `"detection_technologies":["IOA"]`,
		`"external_ref":"ITSM-1"`, `"history":[{"at":"2026-11-19T10:00:00.123Z","type":"incidentCreated"`, `"account":"CORP\\jsmith"`, `"attacker":true`} {
		if !strings.Contains(string(dj), s) {
			t.Errorf("details lack %s:\n%s", s, dj)
		}
	}
	if !json.Valid(inc.Raw) || !strings.Contains(string(inc.Raw), `"HistoryRecords"`) {
		t.Errorf("Raw = %s", inc.Raw)
	}
}

func TestCloseRequest(t *testing.T) {
	d, mux := setup(t, tenantIDs)
	status, resolution := "inProgress", ""
	reads := script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Total":1,"Incidents":[%s]}`, record(status, resolution))
	})
	closes := script(t, mux, "/xdr/api/v1/incidents/close", func(w http.ResponseWriter, r *http.Request) {
		status, resolution = "closed", "lowPriority"
		w.WriteHeader(http.StatusNoContent)
	})
	st, res := schema.StatusClosed, schema.ResolutionLowPriority
	out, err := d.Update(t.Context(), incID, schema.Patch{Status: &st, Resolution: &res})
	if err != nil {
		t.Fatal(err)
	}
	if len(*reads) != 2 || len(*closes) != 1 {
		t.Fatalf("%d reads, %d closes; want 2 and 1", len(*reads), len(*closes))
	}
	testQuery(t, (*reads)[0].req, map[string][]string{"id": {incID}, "tenantID": tenantIDs, "page": {"1"}})
	c := (*closes)[0]
	testMethod(t, c.req, http.MethodPost)
	if ct := c.req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	testBody(t, c, `[{"ID":"`+incID+`","TenantID":"`+tenantIDs[1]+`","Reason":"lowPriority"}]`)
	if out.Incident.Status != schema.StatusClosed || out.Incident.Resolution != schema.ResolutionLowPriority || len(out.Steps) != 1 {
		t.Errorf("result %+v, steps %+v", out.Incident, out.Steps)
	}
}

func TestTenantDiscovery(t *testing.T) {
	d, mux := setup(t, nil)
	tenants := script(t, mux, "/xdr/api/v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // let concurrent first calls pile up
		fmt.Fprintf(w, `[{"ID":%q,"Name":"Root","IsRoot":true,"Subtenants":[%q]},{"ID":%q,"Name":"Branch","Subtenants":[]}]`, tenantIDs[0], tenantIDs[1], tenantIDs[1])
	})
	lists := script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Total":0,"Incidents":[]}`)
	})
	plan, err := d.Plan(driver.Query{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := d.List(t.Context(), plan, "")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(*tenants) != 1 {
		t.Errorf("tenants discovered %d times, want once", len(*tenants))
	}
	testMethod(t, (*tenants)[0].req, http.MethodGet)
	testQuery(t, (*tenants)[0].req, map[string][]string{})
	testQuery(t, (*lists)[0].req, map[string][]string{"tenantID": tenantIDs, "page": {"1"}})

	// Once known, plans name the tenants, and refuse one outside them by ID and name.
	plan, _ = d.Plan(driver.Query{})
	if n := plan.Native.(kaspersky.NativeRequest); !slices.Equal(n.TenantID, tenantIDs) {
		t.Errorf("Native = %+v", n)
	}
	_, err = d.Plan(driver.Query{Criteria: schema.Criteria{Tenant: "Branch"}})
	if d.ErrorCode(err) != schema.CodeInvalidArgument || !strings.Contains(err.Error(), tenantIDs[1]+`" (Branch)`) {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		status   int
		body     string
		code     schema.Code
		message  string
		attempts int
	}{
		{400, `{"message":"cannot parse from","details":"parsing time \"x\""}`, schema.CodeInvalidArgument, `cannot parse from: parsing time "x"`, 1},
		{400, `{"message":"invalid authorization header"}`, schema.CodeUnauthenticated, "invalid authorization header", 1},
		{403, `{"message":"access denied"}`, schema.CodePermissionDenied, "access denied", 1},
		{404, `{"message":"incident not found","details":"x"}`, schema.CodeNotFound, "incident not found: x", 1},
		{500, `{"message":"internal error","details":"db down"}`, schema.CodeUnavailable, "internal error: db down", 4},
		{502, `<html>bad gateway</html>`, schema.CodeUnavailable, "", 4},
	} {
		t.Run(fmt.Sprint(tc.status, " ", tc.message), func(t *testing.T) {
			d, mux := setup(t, tenantIDs)
			seen := script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			plan, _ := d.Plan(driver.Query{})
			_, err := d.List(t.Context(), plan, "")
			he, ok := errors.AsType[*driver.HTTPError](err)
			if !ok || he.Status != tc.status || he.Message != tc.message || he.Path != "/xdr/api/v1/incidents" {
				t.Fatalf("err = %#v", err)
			}
			if got := d.ErrorCode(err); got != tc.code {
				t.Errorf("ErrorCode = %s, want %s", got, tc.code)
			}
			if len(*seen) != tc.attempts {
				t.Errorf("%d attempts, want %d", len(*seen), tc.attempts)
			}
		})
	}
	t.Run("writes are not retried on 5xx", func(t *testing.T) {
		d, mux := setup(t, tenantIDs)
		script(t, mux, "/xdr/api/v1/incidents", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"Total":1,"Incidents":[%s]}`, record("new", ""))
		})
		closes := script(t, mux, "/xdr/api/v1/incidents/close", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, `{"message":"boom"}`)
		})
		st, res := schema.StatusClosed, schema.ResolutionTruePositive
		out, err := d.Update(t.Context(), incID, schema.Patch{Status: &st, Resolution: &res})
		if d.ErrorCode(err) != schema.CodeUnavailable || len(*closes) != 1 || out == nil || len(out.Steps) != 1 || out.Steps[0].OK {
			t.Errorf("Update = %+v, %v; %d close calls", out, err, len(*closes))
		}
	})
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  kaspersky.Config
		want string
	}{
		{"no token", kaspersky.Config{BaseURL: "https://x"}, "token is required"},
		{"token with a newline", kaspersky.Config{BaseURL: "https://x", Token: "a\nb"}, "control characters"},
		{"no base URL", kaspersky.Config{Token: "t"}, "base URL"},
		{"not a URL", kaspersky.Config{Token: "t", BaseURL: "api.xdr.example.com"}, "base URL"},
		{"missing CA file", kaspersky.Config{Token: "t", BaseURL: "https://x", CAFile: filepath.Join(t.TempDir(), "none.pem")}, "CA file"},
		{"CA file and insecure", kaspersky.Config{Token: "t", BaseURL: "https://x", CAFile: "ca.pem", Insecure: true}, "not both"},
		{"custom client and CA", kaspersky.Config{Token: "t", BaseURL: "https://x", CAFile: "ca.pem", Common: descriptor.Common{HTTPClient: http.DefaultClient}}, "custom HTTPClient"},
		{"empty tenant", kaspersky.Config{Token: "t", BaseURL: "https://x", Tenants: []string{" "}}, "empty tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := kaspersky.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("API path in the base URL", func(t *testing.T) {
		sim := kasperskysim.New(kasperskysim.Config{Seed: 1, Incidents: 10, Now: simNow})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		d2, err := kaspersky.New(kaspersky.Config{BaseURL: srv.URL + "/xdr/api/v1/", Token: kasperskysim.DefaultToken})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d2.Get(t.Context(), readable(sim)[0].InternalID); err != nil {
			t.Errorf("Get = %v", err)
		}
	})
}

// TestTLS: an on-premises console with its own CA works with CAFile, fails
// without it, and works with Insecure, which warns at New.
func TestTLS(t *testing.T) {
	sim := kasperskysim.New(kasperskysim.Config{Seed: 1, Incidents: 10, Now: simNow})
	srv := httptest.NewUnstartedServer(sim)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	list := func(cfg kaspersky.Config) error {
		cfg.BaseURL, cfg.Token, cfg.Tenants = srv.URL, kasperskysim.DefaultToken, []string{sim.Tenants()[0].ID}
		d, err := kaspersky.New(cfg)
		if err != nil {
			return err
		}
		plan, _ := d.Plan(driver.Query{})
		_, err = d.List(t.Context(), plan, "")
		return err
	}
	if err := list(kaspersky.Config{CAFile: caFile}); err != nil {
		t.Errorf("with the CA file: %v", err)
	}
	if err := list(kaspersky.Config{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA file: %v", err)
	}
	var logs bytes.Buffer
	if err := list(kaspersky.Config{Insecure: true, Common: descriptor.Common{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}); err != nil {
		t.Errorf("insecure: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "VERIFICATION IS OFF") {
		t.Errorf("insecure logged %q", logs.String())
	}
	if strings.Contains(logs.String(), kasperskysim.DefaultToken) {
		t.Error("the token reached the log")
	}
}
