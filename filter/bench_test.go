package filter

import (
	"fmt"
	"github.com/incident-mcp/incident-mcp/schema"
	"syscall"
	"testing"
	"time"
)

// reportCPU adds cpu-ns/op, the process's CPU time per operation: on a
// shared machine ns/op counts the time spent waiting for a core, this does
// not. Call it as `defer reportCPU(b)()` before the loop.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// typicalFilter is "high-severity open incidents from the last 3 days on a
// host, about ransomware".
var typicalFilter = schema.Filter{MinSeverity: "high", Status: []string{"open", "in_progress"}, CreatedAfter: "3d", TitleContains: "ransom", DeviceIDs: []string{"d-42"}}

const benchWhere = `"ransomware" in incident.tags || incident.severity == CRITICAL`

var benchIncident = &schema.Incident{
	ID: "eset:1", Title: "Ransomware behavior detected on FIN-LAPTOP-042", Severity: schema.SeverityHigh, Status: schema.StatusOpen,
	CreatedAt: benchNow.Add(-time.Hour), Tags: []string{"ransomware", "urgent"},
	Devices: []schema.Ref{{ID: "d-1"}, {ID: "d-42"}},
}

// BenchmarkCompile is a list call's compile when its `where` is cached (the
// usual case: a model repeats its expressions and pages with cursors).
// Target: ≤ 5 µs, ≤ 40 allocs/op (resolving the structured arguments).
func BenchmarkCompile(b *testing.B) {
	if _, err := Compile(typicalFilter, benchWhere, benchNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := Compile(typicalFilter, benchWhere, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileMiss compiles a `where` never seen before: parse, check,
// cost estimate and plan. Target: ≤ 500 µs.
func BenchmarkCompileMiss(b *testing.B) {
	b.ReportAllocs()
	defer reportCPU(b)()
	i := 0
	for b.Loop() {
		i++
		if _, err := Compile(typicalFilter, fmt.Sprintf("%s || size(incident.tags) > %d", benchWhere, i), benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch re-checks one record against the structured criteria, the
// per-record work of a list call without `where`. Target: ≤ 1 µs, 0 allocs/op.
func BenchmarkMatch(b *testing.B) {
	p, err := Compile(typicalFilter, "", benchNow)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if ok, err := p.Match(b.Context(), benchIncident); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkMatchMiss is a record the structured criteria drop (the common
// case while scanning). Target: ≤ 1 µs, 0 allocs/op.
func BenchmarkMatchMiss(b *testing.B) {
	p, err := Compile(typicalFilter, benchWhere, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	miss := *benchIncident
	miss.Title = "Suspicious PowerShell on FIN-LAPTOP-042"
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if ok, err := p.Match(b.Context(), &miss); err != nil || ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkMatchWhere adds a `where` evaluated by CEL on a record the
// structured criteria keep. Target: ≤ 5 µs, ≤ 20 allocs/op.
func BenchmarkMatchWhere(b *testing.B) {
	p, err := Compile(typicalFilter, benchWhere, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if ok, err := p.Match(b.Context(), benchIncident); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkMatchCEL is the same record through the all-CEL reference, for
// comparison with BenchmarkMatchWhere.
func BenchmarkMatchCEL(b *testing.B) {
	p, err := Compile(typicalFilter, benchWhere, benchNow)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if ok, err := p.MatchCEL(b.Context(), benchIncident); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
