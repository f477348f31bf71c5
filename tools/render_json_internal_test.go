package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
	"github.com/incident-mcp/incident-mcp/schema"
)

// TestListResultLayout: the mirrors that encodable converts to have the
// fields of the types they view, in the same order, at the same offsets,
// with the same tags; only a record's times and the record type differ, and
// those have the same size. A field added to schema.Incident or
// incidents.QueryResult and not to its mirror fails here, before it could
// be misread.
func TestListResultLayout(t *testing.T) {
	same := map[[2]reflect.Type]bool{
		{reflect.TypeFor[[]listIncident](), reflect.TypeFor[[]schema.Incident]()}: true,
		{reflect.TypeFor[listStamp](), reflect.TypeFor[time.Time]()}:              true,
	}
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[listResult](), reflect.TypeFor[incidents.QueryResult]()},
		{reflect.TypeFor[listIncident](), reflect.TypeFor[schema.Incident]()},
		{reflect.TypeFor[listStamp](), reflect.TypeFor[time.Time]()},
	} {
		m, v := pair[0], pair[1]
		if m.Size() != v.Size() || m.Align() != v.Align() || m.NumField() != v.NumField() {
			t.Fatalf("%v: size %d, align %d, %d fields; %v: %d, %d, %d", m, m.Size(), m.Align(), m.NumField(), v, v.Size(), v.Align(), v.NumField())
		}
		for i := range m.NumField() {
			mf, vf := m.Field(i), v.Field(i)
			if mf.Name != vf.Name || mf.Tag != vf.Tag || mf.Offset != vf.Offset || mf.Anonymous != vf.Anonymous {
				t.Errorf("%v field %d is %s %q at %d; %v's is %s %q at %d", m, i, mf.Name, mf.Tag, mf.Offset, v, vf.Name, vf.Tag, vf.Offset)
			}
			if mf.Type != vf.Type && !same[[2]reflect.Type{mf.Type, vf.Type}] {
				t.Errorf("%v.%s is %v; %v's is %v", m, mf.Name, mf.Type, v, vf.Type)
			}
		}
	}
}

// TestListResultEncodesAsQueryResult: a list result encodes to the same
// bytes seen through listResult as through encoding/json's own path, over
// varied records: zero and set times, UTC and offsets, whole seconds and
// nanoseconds, text that JSON escapes, details and raw records, and every
// shape of result.
func TestListResultEncodesAsQueryResult(t *testing.T) {
	for seed := range uint64(200) {
		res := variedResult(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
		assertSameEncoding(t, res)
	}
}

// FuzzListResultEncoding is TestListResultEncodesAsQueryResult over any
// seed and any instant.
func FuzzListResultEncoding(f *testing.F) {
	f.Add(uint64(1), int64(0), int64(0))
	f.Add(uint64(2), int64(1_700_000_000), int64(123_456_789))
	f.Add(uint64(3), int64(-62_135_596_800), int64(1))
	f.Fuzz(func(t *testing.T, seed uint64, sec, nsec int64) {
		res := variedResult(rand.New(rand.NewPCG(seed, 7)))
		at := time.Unix(sec, nsec)
		if at.Year() < 0 || at.Year() > 9999 {
			t.Skip("outside RFC 3339: both encodings fail")
		}
		res.Incidents[0].CreatedAt = at
		res.Incidents[0].UpdatedAt = at.In(time.FixedZone("", int(sec%50_000)))
		assertSameEncoding(t, res)
	})
}

// TestListStampAllocatesItsLength: a stamp's encoding is one allocation of
// its own length (24 bytes for whole seconds, not time.Time's 48).
func TestListStampAllocatesItsLength(t *testing.T) {
	s := listStamp(time.Date(2026, 11, 19, 23, 1, 0, 0, time.UTC))
	if n := testing.AllocsPerRun(100, func() { _, _ = s.MarshalJSON() }); n != 1 {
		t.Errorf("%v allocations, want 1", n)
	}
	if b, _ := s.MarshalJSON(); cap(b) > 24 {
		t.Errorf("%q in %d bytes, want at most 24", b, cap(b))
	}
}

func assertSameEncoding(t *testing.T, res *incidents.QueryResult) {
	t.Helper()
	want, werr := json.Marshal(res)
	got, gerr := json.Marshal(encodable(res))
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("through listResult:\n%s (%v)\nencoding/json:\n%s (%v)", got, gerr, want, werr)
	}
	if back, ok := queryResultOf(encodable(res)); !ok || back != res {
		t.Fatalf("queryResultOf gives %p, %v; want %p", back, ok, res)
	}
}

// variedResult is a result with a few records whose every field is set or
// left out at random.
func variedResult(r *rand.Rand) *incidents.QueryResult {
	texts := []string{"", "plain", "<b>&amp;</b>", "tab\there\nnew", "\u2028sep\u2029", "bad \xff utf8", `quote " and \ back`, "ünïcødé ✓", "\x00\x1f"}
	text := func() string { return texts[r.IntN(len(texts))] }
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("", -(5*3600 + 30*60)), time.Local}
	stamp := func() time.Time {
		switch r.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(r.Int64N(4_000_000_000), 0).UTC()
		}
		return time.Unix(r.Int64N(4_000_000_000), r.Int64N(1_000_000_000)).In(zones[r.IntN(len(zones))])
	}
	ref := func() *schema.Ref {
		if r.IntN(2) == 0 {
			return nil
		}
		return &schema.Ref{ID: text(), Name: text()}
	}
	list := func() []string {
		var l []string
		for range r.IntN(3) {
			l = append(l, text())
		}
		return l
	}
	n := int64(r.IntN(5))
	res := &incidents.QueryResult{
		Query: incidents.AppliedQuery{Instance: text(), Vendor: text(), Now: stamp(), OrderBy: text(), Where: text()},
		Notes: list(),
	}
	if r.IntN(2) == 0 {
		res.Paging = &incidents.Paging{NextCursor: text(), HasMore: r.IntN(2) == 0}
		res.Scan = &incidents.ScanStats{Requests: int(n), Scanned: int(n) * 7}
	} else {
		res.Tally = &incidents.Tally{Exact: true, Counts: map[string]map[string]int{"severity": {text(): 2}}}
		res.Total = new(int)
	}
	for i := range 1 + r.IntN(4) {
		inc := schema.Incident{
			ID: text() + ":" + text(), Instance: text(), Vendor: text(), Tenant: text(), Number: text(),
			Title: text(), Description: text(), Severity: schema.Severity(text()), VendorSeverity: text(),
			Status: schema.Status(text()), VendorStatus: text(), Resolution: schema.Resolution(text()), Priority: text(),
			Assignee: ref(), CreatedAt: stamp(), UpdatedAt: stamp(), StatusChangedAt: stamp(),
			Tags: list(), Policy: ref(), DetectionIDs: list(), AlertIDs: list(),
		}
		if r.IntN(2) == 0 {
			inc.Devices = []schema.Ref{*cmpRef(ref()), {Name: text()}}
			inc.Users = []schema.Ref{{ID: text()}}
		}
		if r.IntN(3) == 0 {
			inc.Counts = &schema.Counts{Devices: &n, Alerts: &n}
			inc.Mitre = &schema.Mitre{Tactics: list(), Techniques: []string{"T1059.001"}}
		}
		if r.IntN(4) == 0 {
			inc.Details = map[string]any{"k": text(), "n": i, "at": stamp(), "nested": map[string]any{"x": []any{1.5, true, nil}}}
			inc.Raw = json.RawMessage(`{"raw": [1, 2, "<x>"]}`)
		}
		res.Incidents = append(res.Incidents, inc)
	}
	return res
}

func cmpRef(r *schema.Ref) *schema.Ref {
	if r == nil {
		return &schema.Ref{ID: "d1"}
	}
	return r
}

// TestTextRoomFitsTheText: the list text's builder is grown once, to room
// for the whole text (no second growth) without much more: a page of 20
// typical records, with assignees, devices, tags and a vendor plan, and
// one without them.
func TestTextRoomFitsTheText(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ full, fanOut bool }{{true, false}, {false, false}, {true, true}} {
		full := c.full
		res := &incidents.QueryResult{
			Paging: &incidents.Paging{NextCursor: strings.Repeat("c", 180), HasMore: true},
			Query: incidents.AppliedQuery{Instance: "eset", Vendor: "eset", Now: now, OrderBy: "created_at desc",
				Filter:     schema.Criteria{Statuses: []schema.Status{"open", "in_progress"}, CreatedAfter: now.AddDate(0, 0, -30)},
				VendorPlan: &incidents.VendorPlan{Native: map[string]any{"filter": "status in [OPEN, IN_PROGRESS]", "pageSize": 21}, Pushed: []string{"status", "created_after"}}},
		}
		for i := range 20 {
			inc := schema.Incident{ID: fmt.Sprintf("eset:%08d-eeef-42fb-abda-14beec693b0d", i), Severity: "low", Status: "in_progress",
				CreatedAt: now.Add(-time.Duration(i) * time.Hour), Title: "Adware browser extension on FIN-LAPTOP-042"}
			if full {
				inc.Assignee = &schema.Ref{ID: "59890301-ffc4-4dc7-a28b-32163aa7f1ce"}
				inc.Devices = []schema.Ref{{Name: "FIN-LAPTOP-042"}, {ID: "d2"}, {Name: "SRV-SQL-020"}, {Name: "x"}}
				inc.Tags = []string{"pua", "discovery"}
			}
			res.Incidents = append(res.Incidents, inc)
		}
		var native *jsonBuf
		if c.fanOut {
			res.Query.Instance, res.Query.Vendor, res.Query.VendorPlan = "", "", nil
			for _, name := range []string{"eset", "kaspersky", "dlp"} {
				res.Query.Instances = append(res.Query.Instances, name)
				res.Instances = append(res.Instances, incidents.InstanceStatus{Instance: name, Vendor: name, Status: "partial", Returned: 7, HasMore: true,
					Native: map[string]any{"filter": "status in [OPEN, IN_PROGRESS] && create_time >= timestamp(\"2026-10-21T12:00:00Z\")", "pageSize": 100, "orderBy": "create_time desc"}})
			}
		} else {
			native = encodePlain(res.Query.Native)
			defer native.release()
		}
		text := renderQuery(res, false)
		room := textRoom(res, native)
		if room < len(text) || room > len(text)+len(text)/8+256 {
			t.Errorf("%+v: room %d for a text of %d bytes", c, room, len(text))
		}
	}
}

// telemetry's list metrics read a list result through this interface
// (TestOperationMetrics checks that they count).
var _ telemetry.ListResult = (*listResult)(nil)
