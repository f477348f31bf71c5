package tools_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/tools"
)

// BenchmarkListIncidents is one list_incidents call in-process, through the
// MCP client, the service and the ESET driver, against esetsim on loopback
// (high or above, open or in progress, last 30 days, 20 per page).
// cpu-ns/op is the whole process's CPU time per call, simulator and client
// included. Target: ≤ 1,600 allocs/op; `make bench-load` measures the
// server alone.
func BenchmarkListIncidents(b *testing.B) {
	f := newFixtureTB(b, protocolVersions[1], setup{})
	req := mcp.CallToolRequest{}
	req.Params.Name = tools.ListIncidents
	req.Params.Arguments = map[string]any{"instance": "eset", "min_severity": "high", "status": []string{"open", "in_progress"}, "created_after": "30d", "page_size": 20}
	b.ReportAllocs()
	start := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }()
	for b.Loop() {
		res, err := f.c.CallTool(b.Context(), req)
		if err != nil || res.IsError {
			b.Fatal(err, res)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
