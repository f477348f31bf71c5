package schema

import (
	"testing"
	"time"
)

var benchNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// typicalFilter is "high-severity open incidents from the last 3 days on a
// host, about ransomware".
var typicalFilter = Filter{MinSeverity: "high", Status: []string{"open", "in_progress"}, CreatedAfter: "3d", TitleContains: "ransom", DeviceIDs: []string{"d-42"}}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(typicalFilter, `"ransomware" in incident.tags || incident.severity == CRITICAL`, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	p, err := Compile(typicalFilter, `"ransomware" in incident.tags || incident.severity == CRITICAL`, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	inc := &Incident{
		ID: "eset:1", Title: "Ransomware behavior detected on FIN-LAPTOP-042", Severity: SeverityHigh, Status: StatusOpen,
		CreatedAt: benchNow.Add(-time.Hour), Tags: []string{"ransomware", "urgent"},
		Devices: []Ref{{ID: "d-1"}, {ID: "d-42"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := p.Match(b.Context(), inc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
