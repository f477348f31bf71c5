// Command bench-load measures the built server under load, the way a user
// would run it: the three vendor simulators in one process (rate limits
// lifted), the incident-mcp binary in another, speaking streamable HTTP, and
// this process driving it with 1, 4, 16 and 64 concurrent MCP sessions.
//
// For every vendor and concurrency it prints list_incidents calls per
// second, the server's CPU time per call (from /proc/<pid>/stat, so it counts
// only the server process), p50/p99 latency, the same upstream requests sent
// directly to the simulator (what one call costs without the server) and the
// ratio of the two, and the server's resident memory. The call is the
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 2 && os.Args[1] == "simulators" {
		var latency time.Duration
		if latency, err = time.ParseDuration(os.Args[2]); err == nil {
			err = serveSimulators(ctx, latency, os.Stdout)
		}
	} else {
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
	profile  string // file name prefix of CPU profiles; needs a server built with -tags pprof
	latency  time.Duration
}

func bench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-load", flag.ContinueOnError)
	o := options{}
	var clients, vendors string
	fs.StringVar(&o.server, "server", "bin/incident-mcp", "the built server `binary`")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each measurement runs")
	fs.StringVar(&clients, "clients", "1,4,16,64", "concurrent MCP sessions, comma-separated")
	fs.StringVar(&vendors, "vendors", "eset,kaspersky,dlp", "instances to measure, comma-separated")
	fs.IntVar(&o.pageSize, "page-size", 20, "page_size of every call")
	fs.DurationVar(&o.latency, "upstream-latency", 0, "delay every simulator answer by this much, as a vendor API across a network would (0: loopback only)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the server's CPU profile of each vendor's largest measurement to `PREFIX`-<vendor>.pprof (server built with -tags pprof)")
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

	fmt.Fprintf(out, "bench-load: %s, %d CPUs, %s per measurement, upstream latency %s, filter status=[open,in_progress] created_after=30d page_size=%d\n",
		o.server, runtime.NumCPU(), o.duration, o.latency, o.pageSize)
	// server-alone calls/s is what the server's CPU per call allows on all
	// the machine's cores, with the simulators and this driver elsewhere;
	// calls/s is what this run reached, sharing the cores with them.
	const row = "%-10s %7v %8v %11v %17v %8v %8v %9v %13v %9v %9v %6v\n"
	fmt.Fprintf(out, row, "vendor", "clients", "calls/s", "CPU ms/call", "server-alone/s", "p50 ms", "p99 ms", "upstream", "direct p50 ms", "vs direct", "added ms", "RSS MB")
	for _, v := range o.vendors {
		sessions, err := openSessions(ctx, endpoint, slices.Max(o.clients))
		if err != nil {
			return err
		}
		args := listArgs(v, o.pageSize)
		if err := callOnce(ctx, sessions[0], args); err != nil {
			closeSessions(sessions)
			return fmt.Errorf("%s: %w", v, err)
		}
		// Record the upstream requests of one call, to send them directly.
		replay, err := record(ctx, urls[v], func() error { return callOnce(ctx, sessions[0], args) })
		if err != nil {
			closeSessions(sessions)
			return fmt.Errorf("%s: %w", v, err)
		}
		for _, n := range o.clients {
			var profiled chan error
			if pprofAddr != "" && n == slices.Max(o.clients) {
				profiled = make(chan error, 1)
				go func() { profiled <- cpuProfile(ctx, pprofAddr, o.duration, o.profile+"-"+v+".pprof") }()
			}
			m, err := measureServer(ctx, srv.Process.Pid, sessions[:n], args, o.duration)
			if err != nil {
				closeSessions(sessions)
				return fmt.Errorf("%s with %d clients: %w", v, n, err)
			}
			if profiled != nil {
				if err := <-profiled; err != nil {
					closeSessions(sessions)
					return fmt.Errorf("%s profile: %w", v, err)
				}
			}
			d := measureDirect(ctx, replay, n, o.duration)
			fmt.Fprintf(out, row, v, n, fmt.Sprintf("%.0f", m.rate), fmt.Sprintf("%.2f", m.cpuPerCall),
				fmt.Sprintf("%.0f", float64(runtime.NumCPU())*1000/max(m.cpuPerCall, 0.001)), fmt.Sprintf("%.2f", ms(m.p50)),
				fmt.Sprintf("%.2f", ms(m.p99)), len(replay), fmt.Sprintf("%.2f", ms(d.p50)),
				fmt.Sprintf("%.1fx", float64(m.p50)/float64(max(d.p50, 1))), fmt.Sprintf("%.2f", ms(m.p50-d.p50)),
				fmt.Sprintf("%.0f", float64(m.rss)/(1<<20)))
		}
		closeSessions(sessions)
	}
	return nil
}

func listArgs(instance string, pageSize int) map[string]any {
	return map[string]any{"instance": instance, "status": []string{"open", "in_progress"}, "created_after": "30d", "page_size": pageSize}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// --- the simulators' process -------------------------------------------

const recordPath = "/_bench/record"

// serveSimulators runs the three simulators on loopback ports without rate
// limits, prints their URLs as one JSON line and serves until ctx ends or
// stdin closes (the parent went away).
func serveSimulators(ctx context.Context, latency time.Duration, out io.Writer) error {
	now := time.Now().UTC().Truncate(time.Second)
	const seed, size = demo.DefaultSeed, demo.DefaultIncidents
	handlers := map[string]http.Handler{
		"eset":      esetsim.New(esetsim.Config{Seed: seed, Incidents: size, Now: now, RateLimit: -1}),
		"kaspersky": kasperskysim.New(kasperskysim.Config{Seed: seed, Incidents: size, Now: now}),
		"dlp":       dlpsim.New(dlpsim.Config{Seed: seed, Incidents: size, Now: now, RateLimit: 1 << 30, MaxConcurrent: 1 << 20}),
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
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-ctx.Done():
	case <-done:
	}
	return nil
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

// --- processes ---------------------------------------------------------

func startSimulators(ctx context.Context, latency time.Duration) (*exec.Cmd, map[string]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, self, "simulators", latency.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	_ = stdin // closed when this process exits, which stops the simulators
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start simulators: %w", err)
	}
	var urls map[string]string
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &urls)
	}
	if err != nil {
		stopProcess(cmd)
		return nil, nil, fmt.Errorf("simulators: %w", err)
	}
	return cmd, urls, nil
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
	cmd.Env = append(os.Environ(),
		"INCIDENT_MCP_SECRET="+strings.Repeat("b", 32),
		"ESET_API_URL="+urls["eset"], "ESET_TOKEN_URL="+urls["eset"]+"/oauth/token",
		"ESET_USERNAME=demo", "ESET_PASSWORD=demo", "ESET_RATE_LIMIT=1000000",
		"KASPERSKY_URL="+urls["kaspersky"], "KASPERSKY_TOKEN="+kasperskysim.DefaultToken,
		"DLP_URL="+urls["dlp"], "DLP_API_KEY="+dlpsim.DefaultAPIKey, "DLP_RATE_LIMIT=1000000000", "DLP_MAX_CONCURRENT=1000000",
	)
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
	req := mcp.CallToolRequest{}
	req.Params.Name = "list_incidents"
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("list_incidents failed: %v", res.Content)
	}
	return nil
}

// --- measurements --------------------------------------------------------

type figures struct {
	rate       float64 // calls per second
	cpuPerCall float64 // server CPU ms per call
	p50, p99   time.Duration
	rss        int64 // bytes
}

func measureServer(ctx context.Context, pid int, sessions []*client.Client, args map[string]any, d time.Duration) (figures, error) {
	cpu0, err := cpuTime(pid)
	if err != nil {
		return figures{}, err
	}
	lat, elapsed, err := drive(ctx, len(sessions), d, func(i int) error { return callOnce(ctx, sessions[i], args) })
	if err != nil {
		return figures{}, err
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return figures{}, err
	}
	f := summarize(lat, elapsed)
	f.cpuPerCall = ms(cpu1-cpu0) / float64(len(lat))
	f.rss, _ = rss(pid)
	return f, nil
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
