package eset

import (
	"net/url"
	"reflect"
	"strconv"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// referenceList is what decodeList must equal: the page decoded with
// wire.Decode into listResponse and normalized record by record.
func referenceList(body []byte) ([]schema.Incident, string, error) {
	var lr listResponse
	if err := wire.Decode(body, &lr); err != nil {
		return nil, "", err
	}
	out := make([]schema.Incident, len(lr.Incidents))
	for i := range lr.Incidents {
		out[i] = normalize(&lr.Incidents[i], false)
	}
	return out, lr.NextPageToken, nil
}

var listBodies = []struct{ name, body string }{
	{"empty", `{}`},
	{"no incidents", `{"incidents":[],"nextPageToken":""}`},
	{"null incidents", `{"incidents":null}`},
	{"full record", `{"incidents":[{"uuid":"0b9c2f5e-1d2a-4c3b-8e7f-6a5b4c3d2e1f","displayName":"Ransomware on host","description":"A \"quoted\" line\nand \u00e9","assigneeUuid":"a1","createTime":"2026-11-01T08:00:00Z","updateTime":"2026-11-02T09:30:00.123456Z","severity":"INCIDENT_SEVERITY_LEVEL_HIGH","status":"INCIDENT_STATUS_OPEN","resolveReason":"INCIDENT_RESOLVE_REASON_FALSE_POSITIVE","tags":["a","b"],"deviceUuids":["d1","d2"],"detectionUuids":["x1"],"triageDuration":"5s","metrics":{"deviceCount":2,"executableCount":0,"processCount":-7}}],"nextPageToken":"tok"}`},
	{"two records, shared lists", `{"nextPageToken":"n","incidents":[{"uuid":"u1","tags":["t"],"deviceUuids":["d"]},{"uuid":"u2","tags":[],"deviceUuids":[],"detectionUuids":[]}]}`},
	{"null fields", `{"incidents":[{"uuid":null,"displayName":null,"tags":null,"deviceUuids":null,"metrics":null,"assigneeUuid":null}]}`},
	{"metrics with nulls and extras", `{"incidents":[{"uuid":"u","metrics":{"deviceCount":null,"processCount":3,"other":{"x":[1,2]}}}]}`},
	{"empty metrics", `{"incidents":[{"uuid":"u","metrics":{}}]}`},
	{"null record", `{"incidents":[null,{"uuid":"u"}]}`},
	{"names in other cases", `{"INCIDENTS":[{"UUID":"u","display_name":"t","Display-Name":"t2","CREATETIME":"2026-11-01T08:00:00+02:00","Severity":"INCIDENT_SEVERITY_LEVEL_LOW"}],"next_page_token":"p"}`},
	{"duplicate names keep the last", `{"incidents":[{"uuid":"a","uuid":"b","tags":["x"],"tags":["y","z"]}],"incidents":[{"uuid":"c"}]}`},
	{"unknown members", `{"x":1,"incidents":[{"uuid":"u","unknown":{"a":[true,null,"s"]},"more":[]}],"y":{"z":null}}`},
	{"unknown enum values", `{"incidents":[{"uuid":"u","severity":"SOMETHING_NEW","status":"","resolveReason":"X"}]}`},
	{"bad times", `{"incidents":[{"uuid":"u","createTime":"yesterday","updateTime":"2026-11-01"}]}`},
	{"invalid UTF-8", "{\"incidents\":[{\"uuid\":\"u\",\"displayName\":\"a\xffb\",\"tags\":[\"\xc3\"]}]}"},
	{"escaped names", `{"incidents":[{"\u0075uid":"u","display\u004eame":"t"}]}`},
	{"whitespace", " {\n \"incidents\" : [ { \"uuid\" : \"u\" } ] } \n"},
}

// TestDecodeListMatchesDecode: decodeList gives exactly the incidents and
// token the reflective decoding and normalize give, for the simulator's
// pages and for bodies that exercise the tolerance wire.Decode promises.
func TestDecodeListMatchesDecode(t *testing.T) {
	for _, c := range listBodies {
		t.Run(c.name, func(t *testing.T) {
			checkDecodeList(t, []byte(c.body))
		})
	}
}

func checkDecodeList(t *testing.T, body []byte) {
	t.Helper()
	want, wantNext, wantErr := referenceList(body)
	got, next, err := decodeList(body, 4)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeList error %v, wire.Decode error %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if next != wantNext {
		t.Errorf("next page token %q, want %q", next, wantNext)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeList gives\n%+v\nwant\n%+v", got, want)
	}
}

// TestDecodeListRejects: bodies Decode refuses, decodeList refuses too.
func TestDecodeListRejects(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{"incidents":{}}`, `{"incidents":[{"uuid":1}]}`, `{"incidents":[{"tags":"a"}]}`,
		`{"incidents":[{"metrics":{"deviceCount":1.5}}]}`, `{"incidents":[{"metrics":{"deviceCount":"1"}}]}`,
		`{"incidents":[{"metrics":[]}]}`, `{"incidents":[`, `{"incidents":[]} {}`, `{"incidents":[]}x`,
		`{"incidents":[{"metrics":{"deviceCount":99999999999999999999}}]}`, `{"nextPageToken":7}`,
	} {
		t.Run(body, func(t *testing.T) {
			if _, _, err := referenceList([]byte(body)); err == nil {
				t.Fatalf("wire.Decode accepts %s", body)
			}
			if _, _, err := decodeList([]byte(body), 4); err == nil {
				t.Errorf("decodeList accepts %s", body)
			}
		})
	}
}

func FuzzDecodeList(f *testing.F) {
	for _, c := range listBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeList(t, body)
	})
}

// TestListQuery: the list query is byte for byte what url.Values.Encode
// writes for the same request.
func TestListQuery(t *testing.T) {
	for _, c := range []struct {
		req NativeRequest
		pos string
	}{
		{NativeRequest{PageSize: 21}, ""},
		{NativeRequest{PageSize: 1000, Filter: `severity >= INCIDENT_SEVERITY_LEVEL_HIGH && createTime > timestamp("2026-11-01T08:00:00Z")`, OrderBy: "createTime desc"}, "tok/+=&?"},
		{NativeRequest{PageSize: 100, Filter: "displayName.contains(\"日本 ü\\\"\")"}, ""},
		{NativeRequest{PageSize: 5, OrderBy: "updateTime"}, "next page"},
	} {
		want := url.Values{"pageSize": {strconv.Itoa(c.req.PageSize)}}
		if c.req.Filter != "" {
			want.Set("filter", c.req.Filter)
		}
		if c.req.OrderBy != "" {
			want.Set("orderBy", c.req.OrderBy)
		}
		if c.pos != "" {
			want.Set("pageToken", c.pos)
		}
		if got := listQuery(c.req, c.pos); got != want.Encode() {
			t.Errorf("listQuery = %s\nwant         %s", got, want.Encode())
		}
	}
}

// TestAuthHeaderShared: the header made once per token is handed out
// again for that token, and a new token gets a header of its own without
// changing the one handed out before.
func TestAuthHeaderShared(t *testing.T) {
	c := &client{}
	h := c.authHeader("a")
	if got := h.Get("Authorization"); got != "Bearer a" {
		t.Fatalf("Authorization %q", got)
	}
	if again := c.authHeader("a"); reflect.ValueOf(again).Pointer() != reflect.ValueOf(h).Pointer() {
		t.Errorf("a second header was made for the same token")
	}
	if next := c.authHeader("b"); next.Get("Authorization") != "Bearer b" || h.Get("Authorization") != "Bearer a" {
		t.Errorf("a new token's header is %v and the old one became %v", next, h)
	}
}
