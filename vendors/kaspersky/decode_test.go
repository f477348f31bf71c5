package kaspersky

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// plainIncident is wireIncident without its UnmarshalJSONFrom: the v2
// engine decodes it by reflection, the reference UnmarshalJSONFrom must
// equal.
type plainIncident wireIncident

var recordBodies = []struct{ name, body string }{
	{"empty", `{"Total":0,"Incidents":[]}`},
	{"full record", `{"Total":1,"Incidents":[{"ID":42,"InternalID":"0b9c2f5e-1d2a-4c3b-8e7f-6a5b4c3d2e1f","TenantID":"t1","Name":"Lateral \"movement\"\n\u00e9","Description":"d",
		"Assets":[{"ID":"h1","Name":"host-1","Type":"host","HostInfo":{"DisplayName":"Host One","OS":"x"}},{"ID":"u1","Name":"alice","Type":"user","UserInfo":{"displayName":"Alice","mail":"a@x"}},{"ID":"o","Type":"other","HostInfo":null}],
		"AlertIDs":["a1","a2"],"Assignee":{"ID":"p1","Name":"Pat"},"CreatedAt":"2026-11-01T08:00:00Z","UpdatedAt":"2026-11-02T09:30:00.5+02:00","StatusChangedAt":"",
		"MITRETactics":[{"ID":"TA0001","Name":"Initial Access"}],"MITRETechniques":[{"ID":"T1059.001"},null],"Severity":"high","Status":"inProgress","StatusResolution":"truePositive","Priority":"P1","Rules":[{"ID":"r"}]}]}`},
	{"nulls", `{"Incidents":[{"ID":null,"InternalID":null,"Assets":null,"AlertIDs":null,"Assignee":null,"CreatedAt":null,"MITRETactics":null,"MITRETechniques":[]}]}`},
	{"empty lists", `{"Incidents":[{"Assets":[],"AlertIDs":[],"MITRETactics":[],"Assignee":{}}]}`},
	{"null record", `{"Incidents":[null,{"InternalID":"x"}]}`},
	{"names in other cases", `{"incidents":[{"internalid":"x","internal_id":"y","Mitre-Tactics":[{"id":"TA1"}],"assets":[{"type":"host","hostinfo":{"display_name":"H"}}]}]}`},
	{"odd times", `{"Incidents":[{"CreatedAt":12,"UpdatedAt":{"a":1},"StatusChangedAt":"2026-11-01 08:00:00","InternalID":"x"},{"CreatedAt":"\u0032026-11-01T08:00:00Z","UpdatedAt":"2026-11-01T24:00:00Z"}]}`},
	{"invalid UTF-8", "{\"Incidents\":[{\"Name\":\"a\xffb\",\"AlertIDs\":[\"\xc3\"]}]}"},
	{"duplicates keep the last", `{"Incidents":[{"InternalID":"a","InternalID":"b","AlertIDs":["x"],"AlertIDs":["y"]}]}`},
}

// TestUnmarshalJSONFrom: a list record read by UnmarshalJSONFrom equals
// the same record decoded by reflection, through DecodePrefix and Rest as
// List reads them, for a simulator page and for bodies exercising the
// decoding's tolerance.
func TestUnmarshalJSONFrom(t *testing.T) {
	cases := append([]struct{ name, body string }{{"simulator page", string(simPage(t))}}, recordBodies...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkRecords(t, []byte(c.body))
		})
	}
}

func checkRecords(t *testing.T, body []byte) {
	t.Helper()
	for _, n := range []int{0, 1, 21} {
		var lr, plr listResponse
		got, err := wire.DecodePrefix[wireIncident](body, "Incidents", n, &lr, nil)
		want, wantErr := wire.DecodePrefix[plainIncident](body, "Incidents", n, &plr, nil)
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
			if w := wireIncident(wantAll[i]); !reflect.DeepEqual(gotAll[i], w) {
				t.Fatalf("n=%d: record %d is\n%+v\nwant\n%+v", n, i, gotAll[i], w)
			}
		}
	}
}

// TestUnmarshalJSONFromRejects: records reflection refuses are refused.
func TestUnmarshalJSONFromRejects(t *testing.T) {
	for _, body := range []string{
		`{"Incidents":[{"ID":1.5}]}`, `{"Incidents":[{"ID":"7"}]}`, `{"Incidents":[{"Name":3}]}`, `{"Incidents":[{"Assets":{}}]}`,
		`{"Incidents":[{"Assets":[{"HostInfo":[]}]}]}`, `{"Incidents":[{"AlertIDs":[1]}]}`, `{"Incidents":[{"Assignee":"p"}]}`,
		`{"Incidents":[{"MITRETactics":[{"ID":true}]}]}`, `{"Incidents":[7]}`,
	} {
		t.Run(body, func(t *testing.T) {
			if _, err := wire.DecodePrefix[plainIncident]([]byte(body), "Incidents", 0, nil, nil); err == nil {
				t.Fatalf("reflection accepts %s", body)
			}
			if _, err := wire.DecodePrefix[wireIncident]([]byte(body), "Incidents", 0, nil, nil); err == nil {
				t.Errorf("UnmarshalJSONFrom accepts %s", body)
			}
		})
	}
}

func FuzzUnmarshalJSONFrom(f *testing.F) {
	for _, c := range recordBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkRecords(t, body)
	})
}

// TestNormalizeMatchesReference: normalize, which sizes its lists up front,
// maps every record as the record-by-record appends before it did.
func TestNormalizeMatchesReference(t *testing.T) {
	cases := append([]struct{ name, body string }{{"simulator page", string(simPage(t))}}, recordBodies...)
	for _, c := range cases {
		p, err := wire.DecodePrefix[wireIncident]([]byte(c.body), "Incidents", 0, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range p.Records {
			if got, want := normalize(&p.Records[i]), referenceNormalize(&p.Records[i]); !reflect.DeepEqual(got, want) {
				t.Errorf("%s, record %d: normalize gives\n%+v\nwant\n%+v", c.name, i, got, want)
			}
		}
	}
}

// referenceNormalize is normalize as it was before it sized its lists.
func referenceNormalize(w *wireIncident) schema.Incident {
	inc := schema.Incident{
		ID:              w.InternalID,
		Vendor:          Vendor,
		Tenant:          w.TenantID,
		Title:           w.Name,
		Description:     w.Description,
		Severity:        severityFromKaspersky[w.Severity],
		VendorSeverity:  w.Severity,
		Status:          statusFromKaspersky[w.Status],
		VendorStatus:    w.Status,
		Resolution:      resolutionFromKaspersky[w.Resolution],
		Priority:        w.Priority,
		CreatedAt:       w.CreatedAt.Time,
		UpdatedAt:       w.UpdatedAt.Time,
		StatusChangedAt: w.StatusChangedAt.Time,
		AlertIDs:        w.AlertIDs,
	}
	if w.ID != 0 {
		inc.Number = strconv.FormatInt(w.ID, 10)
	}
	if inc.Resolution == "" && w.Resolution != "" {
		inc.Resolution = schema.Resolution(w.Resolution) // kept verbatim
	}
	if a := w.Assignee; a != nil && (a.ID != "" || a.Name != "") {
		inc.Assignee = &schema.Ref{ID: a.ID, Name: a.Name}
	}
	for i := range w.Assets {
		a := &w.Assets[i]
		switch a.Type {
		case assetHost:
			name := a.Name
			if a.HostInfo != nil && a.HostInfo.DisplayName != "" {
				name = a.HostInfo.DisplayName
			}
			inc.Devices = append(inc.Devices, schema.Ref{ID: a.ID, Name: name})
		case assetUser:
			name := a.Name
			if a.UserInfo != nil && a.UserInfo.DisplayName != "" {
				name = a.UserInfo.DisplayName
			}
			inc.Users = append(inc.Users, schema.Ref{ID: a.ID, Name: name})
		}
	}
	// The vendor always sends AlertIDs, so an empty list is a known zero.
	alerts := int64(len(w.AlertIDs))
	inc.Counts = &schema.Counts{Alerts: &alerts}
	if len(w.MITRETactics) > 0 || len(w.MITRETechniques) > 0 {
		m := &schema.Mitre{}
		for _, t := range w.MITRETactics {
			m.Tactics = append(m.Tactics, t.ID)
		}
		for _, t := range w.MITRETechniques {
			m.Techniques = append(m.Techniques, t.ID)
		}
		inc.Mitre = m
	}
	return inc
}
