// Command bench-load measures the built server under load, the way a user
// would run it: the three vendor simulators in one process (rate limits
// lifted), the incident-mcp binary in another, speaking streamable HTTP, and
// this process driving it with concurrent MCP sessions.
//
// Beside the server it runs the floor: a plain mcp-go streamable-HTTP
// server (this binary's "floor" mode, a process of its own) whose one tool,
// list_incidents, answers with the server's own result of the same call,
// captured once and returned byte for byte. The floor is what any server on
// mcp-go pays for the same answer; the ratio of the server's CPU per call to
// the floor's is steadier than either on a busy machine. Server and floor
// are measured in turn, in rounds (-rounds), and the summary is the median
// of the rounds.
//
// For every vendor it prints the server's and the floor's CPU time per call
// (from /proc/<pid>/stat: that process only) and their ratio, calls per
// second, heap allocations per call (bytes and objects, from each process's
// allocation counters), and at one client the latency of a call beside the
// same upstream requests sent directly to the simulator. The call is the
// "typical" filter of the performance issue: status open or in_progress,
// created in the last 30 days, 20 per page.
//
//	go build -o bin/incident-mcp ./cmd/incident-mcp
//	go run ./cmd/bench-load -server bin/incident-mcp
//
// Linux only (it reads /proc). Figures depend on the machine and on what
// else runs on it; compare runs from the same machine.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 2 && os.Args[1] == "simulators":
		var latency time.Duration
		if latency, err = time.ParseDuration(os.Args[2]); err == nil {
			err = serveSimulators(ctx, latency, os.Stdout)
		}
	case len(os.Args) > 2 && os.Args[1] == "floor":
		err = serveFloor(ctx, os.Args[2], os.Stdout)
	default:
		err = bench(ctx, os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(1)
	}
}

type options struct {
	server   string
	duration time.Duration
	clients  []int
	vendors  []string
	pageSize int
	rounds   int
	profile  string // file name prefix of CPU profiles; needs a server built with -tags pprof
	latency  time.Duration
}

func bench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-load", flag.ContinueOnError)
	o := options{}
	var clients, vendors string
	fs.StringVar(&o.server, "server", "bin/incident-mcp", "the built server `binary`")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each measurement runs")
	fs.StringVar(&clients, "clients", "16", "concurrent MCP sessions of the load measurements, comma-separated (latency is measured at 1 besides)")
	fs.StringVar(&vendors, "vendors", strings.Join(registry.Keys(), ","), "instances to measure, comma-separated")
	fs.IntVar(&o.pageSize, "page-size", 20, "page_size of every call")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of server, floor and direct measurements, taken in turn; the summary is their median")
	fs.DurationVar(&o.latency, "upstream-latency", 0, "delay every simulator answer by this much, as a vendor API across a network would (0: loopback only)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the server's CPU profile of each vendor's first largest measurement to `PREFIX`-<vendor>.pprof (server built with -tags pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("-clients: %q is not a positive number", c)
		}
		o.clients = append(o.clients, n)
	}
	if o.rounds < 1 {
		return errors.New("-rounds: at least 1")
	}
	o.vendors = strings.Split(vendors, ",")

	sims, urls, err := startSimulators(ctx, o.latency)
	if err != nil {
		return err
	}
	defer stopProcess(sims)
	pprofAddr := ""
	if o.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return err
		}
	}
	srv, endpoint, err := startServer(ctx, o.server, urls, pprofAddr)
	if err != nil {
		return err
	}
	defer stopProcess(srv)

	// One call per vendor: its result for the floor to return, its
	// upstream requests to send directly.
	targets := make([]*target, 0, len(o.vendors))
	captured := map[string]json.RawMessage{}
	for _, v := range o.vendors {
		t := &target{vendor: v, args: listArgs(v, o.pageSize)}
		res, err := captureResult(ctx, endpoint, t.args)
		if err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		captured[v] = res
		targets = append(targets, t)
	}
	floorFile, err := writeCaptured(captured)
	if err != nil {
		return err
	}
	defer os.Remove(floorFile)
	floor, floorEndpoint, err := startFloor(ctx, floorFile)
	if err != nil {
		return err
	}
	defer stopProcess(floor)

	most := slices.Max(append([]int{1}, o.clients...))
	procs := []*process{
		{name: "server", pid: srv.Process.Pid, metrics: strings.TrimSuffix(endpoint, "/mcp") + "/metrics"},
		{name: "floor", pid: floor.Process.Pid, metrics: strings.TrimSuffix(floorEndpoint, "/mcp") + "/metrics"},
	}
	for _, t := range targets {
		for i, ep := range []string{endpoint, floorEndpoint} {
			if t.sessions[i], err = openSessions(ctx, ep, most); err != nil {
				return err
			}
			defer closeSessions(t.sessions[i])
			if err := callOnce(ctx, t.sessions[i][0], t.args); err != nil {
				return fmt.Errorf("%s %s: %w", t.vendor, procs[i].name, err)
			}
		}
		if t.replay, err = record(ctx, urls[t.vendor], func() error { return callOnce(ctx, t.sessions[0][0], t.args) }); err != nil {
			return fmt.Errorf("%s: %w", t.vendor, err)
		}
		if err := sameResult(ctx, t, captured[t.vendor]); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "bench-load: %s, %d CPUs, %s per measurement, %d rounds, upstream latency %s, filter status=[open,in_progress] created_after=30d page_size=%d\n",
		o.server, runtime.NumCPU(), o.duration, o.rounds, o.latency, o.pageSize)
	// The machine's load beside the figures: CPU times are only as good as
	// the machine was idle.
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	defer func() { fmt.Fprintf(out, "load average after: %s\n", loadAverage()) }()
	// Every round measures, for every vendor in turn, the server and the
	// floor under each load and at one client, and the direct requests.
	results := map[string][]roundFigures{}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range targets {
			var rf roundFigures
			for _, n := range o.clients {
				var profiled chan error
				if pprofAddr != "" && round == 1 && n == most {
					profiled = make(chan error, 1)
					go func() { profiled <- cpuProfile(ctx, pprofAddr, o.duration, o.profile+"-"+t.vendor+".pprof") }()
				}
				var pair [2]figures
				for i, p := range procs {
					if pair[i], err = measure(ctx, p, t.sessions[i][:n], t.args, o.duration); err != nil {
						return fmt.Errorf("%s %s with %d clients: %w", t.vendor, p.name, n, err)
					}
					if i == 0 && profiled != nil {
						if err := <-profiled; err != nil {
							return fmt.Errorf("%s profile: %w", t.vendor, err)
						}
					}
				}
				rf.load = append(rf.load, pair)
			}
			for i, p := range procs {
				if rf.one[i], err = measure(ctx, p, t.sessions[i][:1], t.args, o.duration); err != nil {
					return fmt.Errorf("%s %s with 1 client: %w", t.vendor, p.name, err)
				}
			}
			rf.direct = measureDirect(ctx, t.replay, 1, o.duration)
			results[t.vendor] = append(results[t.vendor], rf)
			for k, n := range o.clients {
				s, f := rf.load[k][0], rf.load[k][1]
				fmt.Fprintf(out, "round %d %-10s %3d clients: server %.3f ms/call %5.0f/s %5.1f KB %4.0f objects | floor %.3f ms/call %5.0f/s %5.1f KB %4.0f objects | %.2fx\n",
					round, t.vendor, n, s.cpuPerCall, s.rate, s.allocBytes/1000, s.allocObjects, f.cpuPerCall, f.rate, f.allocBytes/1000, f.allocObjects, s.cpuPerCall/max(f.cpuPerCall, 1e-9))
			}
			fmt.Fprintf(out, "round %d %-10s   1 client:  server %.3f ms/call, floor %.3f ms/call, %.2fx; p50 server %.2f ms, floor %.2f ms, direct %.2f ms\n",
				round, t.vendor, rf.one[0].cpuPerCall, rf.one[1].cpuPerCall, rf.one[0].cpuPerCall/max(rf.one[1].cpuPerCall, 1e-9), ms(rf.one[0].p50), ms(rf.one[1].p50), ms(rf.direct.p50))
		}
	}
	summarizeRounds(out, o, targets, results)
	return nil
}

// target is one vendor's call, with sessions on the server (0) and on the
// floor (1), and the upstream requests it makes.
type target struct {
	vendor   string
	args     map[string]any
	sessions [2][]*client.Client
	replay   []recorded
}

// process is a measured server process: its pid for CPU time and its
// allocation counters' address.
type process struct {
	name    string
	pid     int
	metrics string
}

// roundFigures are one round's measurements of one vendor: for each load,
// server and floor; at one client, server and floor; and direct.
type roundFigures struct {
	load   [][2]figures
	one    [2]figures
	direct figures
}

// loadAverage is the 1, 5 and 15 minute load averages (Linux), or why not.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return strings.TrimSpace(string(b))
}

// summarizeRounds prints the median of the rounds of every figure.
func summarizeRounds(out io.Writer, o options, targets []*target, results map[string][]roundFigures) {
	fmt.Fprintf(out, "\nmedian of %d rounds; CPU per call is each process's own, on a machine it shares with the simulators and this driver\n", o.rounds)
	// The 1-client columns: CPU per call of server and floor when calls
	// come one at a time (what each wake-up costs), and p50 latency beside
	// the direct requests.
	const row = "%-10s %7v %10v %10v %7v %15v %22v %22v %14v %10v %10v %10v %9v %8v\n"
	fmt.Fprintf(out, row, "vendor", "clients", "server ms", "floor ms", "ratio", "calls/s (floor)", "server KB/call, objs", "floor KB/call, objs",
		"1c CPU ms s/f", "1c p50 s", "1c p50 f", "1c direct", "vs direct", "RSS MB")
	for _, t := range targets {
		rs := results[t.vendor]
		med := func(f func(r roundFigures) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		one := func(i int) float64 { return med(func(r roundFigures) float64 { return ms(r.one[i].p50) }) }
		direct := med(func(r roundFigures) float64 { return ms(r.direct.p50) })
		for k, n := range o.clients {
			at := func(i int, f func(figures) float64) float64 {
				return med(func(r roundFigures) float64 { return f(r.load[k][i]) })
			}
			cpu := func(f figures) float64 { return f.cpuPerCall }
			fmt.Fprintf(out, row, t.vendor, n,
				fmt.Sprintf("%.3f", at(0, cpu)), fmt.Sprintf("%.3f", at(1, cpu)),
				fmt.Sprintf("%.2fx", med(func(r roundFigures) float64 { return r.load[k][0].cpuPerCall / max(r.load[k][1].cpuPerCall, 1e-9) })),
				fmt.Sprintf("%.0f (%.0f)", at(0, func(f figures) float64 { return f.rate }), at(1, func(f figures) float64 { return f.rate })),
				fmt.Sprintf("%.1f, %.0f", at(0, func(f figures) float64 { return f.allocBytes / 1000 }), at(0, func(f figures) float64 { return f.allocObjects })),
				fmt.Sprintf("%.1f, %.0f", at(1, func(f figures) float64 { return f.allocBytes / 1000 }), at(1, func(f figures) float64 { return f.allocObjects })),
				fmt.Sprintf("%.3f/%.3f", med(func(r roundFigures) float64 { return r.one[0].cpuPerCall }), med(func(r roundFigures) float64 { return r.one[1].cpuPerCall })),
				fmt.Sprintf("%.2f", one(0)), fmt.Sprintf("%.2f", one(1)), fmt.Sprintf("%.2f", direct),
				fmt.Sprintf("%.1fx", one(0)/max(direct, 1e-9)),
				fmt.Sprintf("%.0f", at(0, func(f figures) float64 { return float64(f.rss) / (1 << 20) })))
		}
	}
}

func listArgs(instance string, pageSize int) map[string]any {
	return map[string]any{"instance": instance, "status": []string{"open", "in_progress"}, "created_after": "30d", "page_size": pageSize}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// --- the simulators' process -------------------------------------------

const recordPath = "/_bench/record"

// serveSimulators runs every registered simulator on loopback ports without rate
// limits, prints their URLs as one JSON line and serves until ctx ends or
// stdin closes (the parent went away).
func serveSimulators(ctx context.Context, latency time.Duration, out io.Writer) error {
	now := time.Now().UTC().Truncate(time.Second)
	opts := descriptor.SimOptions{Seed: demo.DefaultSeed, Incidents: demo.DefaultIncidents, Now: now, Unlimited: true}
	handlers := map[string]http.Handler{}
	for _, v := range registry.All() {
		handlers[v.Key()] = v.Simulation.New(opts)
	}
	urls := map[string]string{}
	for name, h := range handlers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: &recorder{next: h, latency: latency}, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		urls[name] = "http://" + ln.Addr().String()
	}
	if err := json.NewEncoder(out).Encode(urls); err != nil {
		return err
	}
	untilStdinCloses(ctx)
	return nil
}

// untilStdinCloses returns when the parent closes standard input, its
// way of stopping a helper process it started, or when ctx ends.
func untilStdinCloses(ctx context.Context) {
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-ctx.Done():
	case <-done:
	}
}

// recorder keeps the API requests a simulator receives while recording is
// on, so the load driver can send the same requests directly.
type recorder struct {
	next    http.Handler
	latency time.Duration // added to every API answer
	on      atomic.Bool
	mu      sync.Mutex
	reqs    []recorded
}

type recorded struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == recordPath {
		switch r.Method {
		case http.MethodPost: // start a recording
			rc.mu.Lock()
			rc.reqs = nil
			rc.mu.Unlock()
			rc.on.Store(true)
		case http.MethodDelete: // stop it and return what was recorded
			rc.on.Store(false)
			rc.mu.Lock()
			json.NewEncoder(w).Encode(rc.reqs)
			rc.mu.Unlock()
		}
		return
	}
	if rc.on.Load() && !strings.Contains(r.URL.Path, "token") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{Method: r.Method, URI: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
	}
	if rc.latency > 0 {
		time.Sleep(rc.latency)
	}
	rc.next.ServeHTTP(w, r)
}

// --- the floor's process -------------------------------------------------

// serveFloor serves a plain mcp-go streamable-HTTP server on a loopback
// port whose one tool, list_incidents, returns the result captured for the
// call's instance (file: instance → CallToolResult JSON), as it was, and
// /metrics with the process's allocation counters. It prints its MCP URL as
// one JSON line and serves until ctx ends or stdin closes. Its GC runs at
// the server's default GOGC, so the two pay for garbage alike.
func serveFloor(ctx context.Context, file string, out io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	b, err := os.ReadFile(file) //nolint:gosec // G703: the temporary file the parent bench-load wrote and named
	if err != nil {
		return err
	}
	var captured map[string]json.RawMessage
	if err := json.Unmarshal(b, &captured); err != nil {
		return err
	}
	results := map[string]*mcp.CallToolResult{}
	for name, raw := range captured {
		r := &mcp.CallToolResult{}
		if err := json.Unmarshal(raw, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results[name] = r
	}
	s := server.NewMCPServer("floor", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewToolWithRawSchema("list_incidents", "the captured answer of each instance", json.RawMessage(`{"type":"object"}`)),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			name, _ := req.GetArguments()["instance"].(string)
			r, ok := results[name]
			if !ok {
				return mcp.NewToolResultError("no captured result for " + name), nil
			}
			c := *r // the library may set fields on the result it sends
			return &c, nil
		})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprintf(w, "%s %d\n%s %d\n", allocBytesMetric, m.TotalAlloc, allocObjectsMetric, m.Mallocs)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	if err := json.NewEncoder(out).Encode("http://" + ln.Addr().String() + "/mcp"); err != nil {
		return err
	}
	untilStdinCloses(ctx)
	return nil
}

// captureResult is the server's result of one call as JSON, from a session
// of its own.
func captureResult(ctx context.Context, endpoint string, args map[string]any) (json.RawMessage, error) {
	sessions, err := openSessions(ctx, endpoint, 1)
	if err != nil {
		return nil, err
	}
	defer closeSessions(sessions)
	res, err := callResult(ctx, sessions[0], args)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// sameResult checks that the floor answers t's call with the captured
// result, byte for byte.
func sameResult(ctx context.Context, t *target, want json.RawMessage) error {
	res, err := callResult(ctx, t.sessions[1][0], t.args)
	if err != nil {
		return fmt.Errorf("%s floor: %w", t.vendor, err)
	}
	got, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: the floor's result differs from the captured one (%d bytes, captured %d)", t.vendor, len(got), len(want))
	}
	return nil
}

func writeCaptured(captured map[string]json.RawMessage) (string, error) {
	f, err := os.CreateTemp("", "bench-load-floor-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(captured); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func startFloor(ctx context.Context, file string) (*exec.Cmd, string, error) {
	cmd, line, err := startChild(ctx, "floor", file)
	if err != nil {
		return nil, "", err
	}
	var endpoint string
	if err := json.Unmarshal(line, &endpoint); err != nil {
		stopProcess(cmd)
		return nil, "", fmt.Errorf("floor: %w", err)
	}
	return cmd, endpoint, nil
}

// --- processes ---------------------------------------------------------

func startSimulators(ctx context.Context, latency time.Duration) (*exec.Cmd, map[string]string, error) {
	cmd, line, err := startChild(ctx, "simulators", latency.String())
	if err != nil {
		return nil, nil, err
	}
	var urls map[string]string
	if err := json.Unmarshal(line, &urls); err != nil {
		stopProcess(cmd)
		return nil, nil, fmt.Errorf("simulators: %w", err)
	}
	return cmd, urls, nil
}

// startChild runs this binary in mode with arg and returns the first line
// it prints. The child stops when this process exits and its stdin closes.
func startChild(ctx context.Context, mode, arg string) (*exec.Cmd, []byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, self, mode, arg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	_ = stdin // closed when this process exits, which stops the child
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", mode, err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		stopProcess(cmd)
		return nil, nil, fmt.Errorf("%s: %w", mode, err)
	}
	return cmd, line, nil
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// cpuProfile fetches a CPU profile of d from the server's pprof listener,
// and then a heap profile beside it (.heap instead of .pprof).
func cpuProfile(ctx context.Context, addr string, d time.Duration, file string) error {
	secs := max(1, int(d/time.Second))
	if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), file); err != nil {
		return err
	}
	return fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/heap", addr), strings.TrimSuffix(file, ".pprof")+".heap")
}

func fetchProfile(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s (build the server with -tags pprof)", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o600)
}

func startServer(ctx context.Context, bin string, urls map[string]string, pprofAddr string) (*exec.Cmd, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, bin, "--http", addr, "--read-only", "--log-level", "error")
	cmd.Env = append(os.Environ(), "INCIDENT_MCP_SECRET="+strings.Repeat("b", 32))
	for _, v := range registry.All() {
		cmd.Env = append(cmd.Env, v.Simulation.Env(urls[v.Key()], true)...)
	}
	if pprofAddr != "" {
		cmd.Env = append(cmd.Env, "INCIDENT_MCP_PPROF_ADDR="+pprofAddr)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", bin, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd, "http://" + addr + "/mcp", nil
		}
		if time.Now().After(deadline) {
			stopProcess(cmd)
			return nil, "", fmt.Errorf("%s did not answer on %s: %w", bin, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// --- MCP sessions --------------------------------------------------------

func openSessions(ctx context.Context, endpoint string, n int) ([]*client.Client, error) {
	out := make([]*client.Client, 0, n)
	for range n {
		c, err := client.NewStreamableHttpClient(endpoint)
		if err != nil {
			closeSessions(out)
			return nil, err
		}
		if err := c.Start(ctx); err != nil {
			closeSessions(out)
			return nil, err
		}
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
		init.Params.ClientInfo = mcp.Implementation{Name: "bench-load", Version: "1"}
		if _, err := c.Initialize(ctx, init); err != nil {
			c.Close()
			closeSessions(out)
			return nil, fmt.Errorf("initialize: %w", err)
		}
		// The client mirrors x-mcp-header parameters (instance) into
		// Mcp-Param-* headers only for tools it has listed.
		if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
			c.Close()
			closeSessions(out)
			return nil, fmt.Errorf("list tools: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

func closeSessions(cs []*client.Client) {
	for _, c := range cs {
		c.Close()
	}
}

func callOnce(ctx context.Context, c *client.Client, args map[string]any) error {
	_, err := callResult(ctx, c, args)
	return err
}

func callResult(ctx context.Context, c *client.Client, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = "list_incidents"
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return nil, fmt.Errorf("list_incidents failed: %v", res.Content)
	}
	return res, nil
}

// --- measurements --------------------------------------------------------

type figures struct {
	rate         float64 // calls per second
	cpuPerCall   float64 // the process's CPU ms per call
	allocBytes   float64 // the process's heap bytes allocated per call
	allocObjects float64 // and objects
	p50, p99     time.Duration
	rss          int64 // bytes
}

// measure drives the process's sessions for d: calls per second, latency,
// the process's CPU time and heap allocations per call, and its RSS.
func measure(ctx context.Context, p *process, sessions []*client.Client, args map[string]any, d time.Duration) (figures, error) {
	cpu0, err := cpuTime(p.pid)
	if err != nil {
		return figures{}, err
	}
	mem0, err := allocCounters(ctx, p.metrics)
	if err != nil {
		return figures{}, err
	}
	lat, elapsed, err := drive(ctx, len(sessions), d, func(i int) error { return callOnce(ctx, sessions[i], args) })
	if err != nil {
		return figures{}, err
	}
	cpu1, err := cpuTime(p.pid)
	if err != nil {
		return figures{}, err
	}
	mem1, err := allocCounters(ctx, p.metrics)
	if err != nil {
		return figures{}, err
	}
	f := summarize(lat, elapsed)
	calls := float64(len(lat))
	f.cpuPerCall = ms(cpu1-cpu0) / calls
	f.allocBytes = (mem1[0] - mem0[0]) / calls
	f.allocObjects = (mem1[1] - mem0[1]) / calls
	f.rss, _ = rss(p.pid)
	return f, nil
}

// The allocation counters both processes export, as Go's runtime.MemStats
// counts them (TotalAlloc and Mallocs): the Prometheus Go collector's names.
const (
	allocBytesMetric   = "go_memstats_alloc_bytes_total"
	allocObjectsMetric = "go_memstats_mallocs_total"
)

// allocCounters reads a process's bytes and objects allocated so far from
// its metrics page. The read itself allocates a little in the process; over
// thousands of calls it is lost in the rounding.
func allocCounters(ctx context.Context, url string) ([2]float64, error) {
	var out [2]float64
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		i := slices.Index([]string{allocBytesMetric, allocObjectsMetric}, name)
		if !ok || i < 0 {
			continue
		}
		if out[i], err = strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil {
			return out, fmt.Errorf("%s: %s: %w", url, name, err)
		}
		found++
	}
	if found != 2 {
		return out, fmt.Errorf("%s: no %s and %s", url, allocBytesMetric, allocObjectsMetric)
	}
	return out, sc.Err()
}

var directClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// measureDirect sends one call's upstream requests in sequence, from n
// workers, and times each sequence.
func measureDirect(ctx context.Context, replay []recorded, n int, d time.Duration) figures {
	lat, elapsed, _ := drive(ctx, n, d, func(int) error {
		for _, r := range replay {
			req, err := http.NewRequestWithContext(ctx, r.Method, r.URI, bytes.NewReader(r.Body))
			if err != nil {
				return err
			}
			req.Header = r.Header.Clone()
			resp, err := directClient.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil
	})
	return summarize(lat, elapsed)
}

// drive runs call from n workers for d and returns every call's latency.
func drive(ctx context.Context, n int, d time.Duration, call func(worker int) error) ([]time.Duration, time.Duration, error) {
	var (
		mu    sync.Mutex
		all   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for i := range n {
		wg.Go(func() {
			var lat []time.Duration
			for time.Now().Before(stop) && ctx.Err() == nil {
				t := time.Now()
				if err := call(i); err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first == nil && len(all) == 0 {
		first = errors.New("no call completed")
	}
	return all, elapsed, first
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func summarize(lat []time.Duration, elapsed time.Duration) figures {
	if len(lat) == 0 {
		return figures{}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return figures{rate: float64(len(lat)) / elapsed.Seconds(), p50: q(0.50), p99: q(0.99)}
}

// record runs call while the simulator at base records the requests it gets.
func record(ctx context.Context, base string, call func() error) ([]recorded, error) {
	do := func(method string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+recordPath, nil)
		return http.DefaultClient.Do(req)
	}
	resp, err := do(http.MethodPost)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	callErr := call()
	resp, err = do(http.MethodDelete)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if callErr != nil {
		return nil, callErr
	}
	var reqs []recorded
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		return nil, err
	}
	for i := range reqs {
		reqs[i].URI = base + reqs[i].URI
	}
	if len(reqs) == 0 {
		return nil, errors.New("the call made no upstream request")
	}
	return reqs, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

// cpuTime is the user+system CPU time the process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// rss is the process's resident set size.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}
