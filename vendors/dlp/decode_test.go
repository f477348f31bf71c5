package dlp

import (
	"maps"
	"reflect"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// plainSummary is summaryWire without its UnmarshalJSONFrom: the v2 engine
// decodes it by reflection, the reference UnmarshalJSONFrom must equal.
type plainSummary summaryWire

var summaryBodies = []struct{ name, body string }{
	{"empty", `{"resources":[],"total_count":0}`},
	{"full record", `{"resources":[{"id":"incident-123","title":"Upload of \"source\"\n\u00e9","description":"d","severity":"high","status":"investigating",
		"policy_id":"p1","policy_name":"Source code","endpoint_id":"e1","endpoint_name":"laptop-1","user_id":"u1","user_name":"alice",
		"created_at":"2026-11-01T08:00:00Z","updated_at":"2026-11-02 09:30:00+02:00","tags":["a","b"],"assigned_to":"bob",
		"close_reason":"valid","close_note":"n","details":{"lineage":[{"x":1}],"file":"a.c"}}],"next_page_id":"n2","total_count":7}`},
	{"nulls", `{"resources":[{"id":null,"tags":null,"details":null,"policy_id":null}]}`},
	{"empty tags", `{"resources":[{"id":"x","tags":[]}]}`},
	{"null record", `{"resources":[null,{"id":"x"}]}`},
	{"names in other cases", `{"Resources":[{"ID":"x","PolicyId":"p","policy-name":"n","USER_NAME":"u","Details":7}]}`},
	{"details of any kind", `{"resources":[{"id":"a","details":"s"},{"id":"b","details":[1,2]},{"id":"c","details":true}]}`},
	{"invalid UTF-8", "{\"resources\":[{\"id\":\"x\",\"title\":\"a\xffb\",\"tags\":[\"\xc3\"]}]}"},
	{"duplicates keep the last", `{"resources":[{"id":"a","id":"b","tags":["x"],"tags":["y"]}]}`},
	{"unknown members", `{"resources":[{"id":"a","extra":{"k":[null]},"more":1.5}]}`},
}

// TestUnmarshalJSONFrom: a list record read by UnmarshalJSONFrom equals the
// same record decoded by reflection, through DecodePrefix and Rest as
// ListPrefix reads them, and normalizes as before its references shared an
// allocation.
func TestUnmarshalJSONFrom(t *testing.T) {
	for _, c := range summaryBodies {
		t.Run(c.name, func(t *testing.T) {
			checkSummaries(t, []byte(c.body))
		})
	}
}

func checkSummaries(t *testing.T, body []byte) {
	t.Helper()
	for _, n := range []int{0, 1, 21} {
		var lp, plp pageWire
		got, err := wire.DecodePrefix[summaryWire](body, "resources", n, &lp, nil)
		want, wantErr := wire.DecodePrefix[plainSummary](body, "resources", n, &plp, nil)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("n=%d: UnmarshalJSONFrom error %v, reflection error %v", n, err, wantErr)
		}
		if err != nil {
			return
		}
		gotRest, err := got.Rest()
		wantRest, wantErr := want.Rest()
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("n=%d: rest: UnmarshalJSONFrom error %v, reflection error %v", n, err, wantErr)
		}
		gotAll, wantAll := append(got.Records, gotRest...), append(want.Records, wantRest...)
		if len(gotAll) != len(wantAll) {
			t.Fatalf("n=%d: %d records, want %d", n, len(gotAll), len(wantAll))
		}
		for i := range gotAll {
			if w := summaryWire(wantAll[i]); !reflect.DeepEqual(gotAll[i], w) {
				t.Fatalf("n=%d: record %d is\n%+v\nwant\n%+v", n, i, gotAll[i], w)
			}
			for _, full := range []bool{false, true} {
				if g, w := normalize(&gotAll[i].wireIncident, full), referenceNormalize(&gotAll[i].wireIncident, full); !reflect.DeepEqual(g, w) {
					t.Fatalf("record %d: normalize(full %v) gives\n%+v\nwant\n%+v", i, full, g, w)
				}
			}
		}
	}
}

// TestUnmarshalJSONFromRejects: records reflection refuses are refused.
func TestUnmarshalJSONFromRejects(t *testing.T) {
	for _, body := range []string{
		`{"resources":[{"id":1}]}`, `{"resources":[{"tags":"a"}]}`, `{"resources":[{"tags":[1]}]}`, `{"resources":[7]}`,
		`{"resources":[{"title":{}}]}`, `{"resources":[{"id":"a"`,
	} {
		t.Run(body, func(t *testing.T) {
			if _, err := wire.DecodePrefix[plainSummary]([]byte(body), "resources", 0, nil, nil); err == nil {
				t.Fatalf("reflection accepts %s", body)
			}
			if _, err := wire.DecodePrefix[summaryWire]([]byte(body), "resources", 0, nil, nil); err == nil {
				t.Errorf("UnmarshalJSONFrom accepts %s", body)
			}
		})
	}
}

func FuzzUnmarshalJSONFrom(f *testing.F) {
	for _, c := range summaryBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSummaries(t, body)
	})
}

// referenceNormalize is normalize as it was before its references shared
// an allocation.
func referenceNormalize(w *wireIncident, full bool) schema.Incident {
	inc := schema.Incident{
		ID:             w.ID,
		Vendor:         Vendor,
		Title:          w.Title,
		Description:    w.Description,
		Severity:       severityFromDLP[w.Severity],
		VendorSeverity: w.Severity,
		Status:         statusFromDLP[w.Status],
		VendorStatus:   w.Status,
		Resolution:     resolutionFrom(w.CloseReason),
		CreatedAt:      parseTime(w.CreatedAt),
		UpdatedAt:      parseTime(w.UpdatedAt),
		Tags:           w.Tags,
	}
	if len(inc.Tags) == 0 {
		inc.Tags = nil
	}
	if w.PolicyID != "" || w.PolicyName != "" {
		inc.Policy = &schema.Ref{ID: w.PolicyID, Name: w.PolicyName}
	}
	if w.EndpointID != "" || w.EndpointName != "" {
		inc.Devices = []schema.Ref{{ID: w.EndpointID, Name: w.EndpointName}}
	}
	if w.UserID != "" || w.UserName != "" {
		inc.Users = []schema.Ref{{ID: w.UserID, Name: w.UserName}}
	}
	if w.AssignedTo != "" {
		inc.Assignee = &schema.Ref{ID: w.AssignedTo}
	}
	if full {
		d := maps.Clone(w.Details)
		if d == nil {
			d = map[string]any{}
		}
		// The lineage is evidence: get_incident shows it with include
		// evidence, not in every read.
		delete(d, "lineage")
		// The verbatim reason and the note have no normalized field; a
		// reader of one incident wants them.
		if w.CloseReason != "" {
			d["close_reason"] = w.CloseReason
		}
		if w.CloseNote != "" {
			d["close_note"] = w.CloseNote
		}
		if len(d) > 0 {
			inc.Details = d
		}
	}
	return inc
}
