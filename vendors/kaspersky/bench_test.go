package kaspersky

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

// simPage returns the raw body of one list page of 100 simulator incidents
// with their assets, as a console sends it.
func simPage(b testing.TB) []byte {
	b.Helper()
	sim := kasperskysim.New(kasperskysim.Config{Seed: 1, Incidents: 300, Now: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)})
	var tenants []string
	for _, t := range sim.Tenants() {
		if t.Name != kasperskysim.TenantRestricted {
			tenants = append(tenants, t.ID)
		}
	}
	q := url.Values{"tenantID": tenants, "page": {"1"}, "withAffected": {flagValue}}
	req := httptest.NewRequest(http.MethodGet, pathIncidents+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+kasperskysim.DefaultToken)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("simulator answered %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// BenchmarkDecodeNormalizePage100 decodes and normalizes one page of 100
// incidents with assets, and reports the vendor's bytes per incident beside
// the bytes per incident list_incidents returns to the model (the normalized
// incident with its instance id, without Details or Raw).
// BenchmarkDecodeNormalizePrefix21 is the same page when the call needs
// only its first 21 records (page_size 20 and an exact filter): the other
// 79 are checked and counted, not decoded. Target: at most a third of the
// whole page's time and allocations.
func BenchmarkDecodeNormalizePage100(b *testing.B) { benchDecode(b, 0) }

func BenchmarkDecodeNormalizePrefix21(b *testing.B) { benchDecode(b, 21) }

func benchDecode(b *testing.B, n int) {
	body := simPage(b)
	decode := func(n int) []schema.Incident {
		var lr listResponse
		p, err := wire.DecodePrefix[wireIncident](body, "Incidents", n, &lr, func(int) bool { return lr.Total != nil })
		if err != nil {
			b.Fatal(err)
		}
		return wire.Normalize(p.Records, normalize)
	}
	page := decode(0)
	if len(page) != PageSize || len(page[0].Devices) == 0 {
		b.Fatalf("page of %d incidents, first with %d devices", len(page), len(page[0].Devices))
	}
	outBytes := 0
	for _, inc := range page {
		inc.Instance, inc.ID = Vendor, schema.JoinID(Vendor, inc.ID)
		inc.Details, inc.Raw = nil, nil
		j, err := json.Marshal(inc)
		if err != nil {
			b.Fatal(err)
		}
		outBytes += len(j)
	}

	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		decode(n)
	}
	b.ReportMetric(float64(len(body))/float64(len(page)), "raw-B/incident")
	b.ReportMetric(float64(outBytes)/float64(len(page)), "out-B/incident")
}
