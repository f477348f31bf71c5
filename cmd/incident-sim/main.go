// Command incident-sim serves the three vendor simulators (ESET Connect,
// Kaspersky Next XDR Expert, Cyberhaven DLP) as one standalone process on
// loopback, with the demo's datasets and the vendors' rate limits on, for
// replicas of the server, load tests and manual tries. Point the server at it
// through the ordinary vendor configuration (it prints the variables).
//
// An admin endpoint reports what each simulator saw, counting attempts before
// the simulator answers them, refused ones included:
//
//	GET  /stats                         per simulator: attempts, rates, peak concurrency, 429s sent
//	POST /reset                         start the counts afresh
//	POST /fail?vendor=V&status=S&n=N    the next N requests to V answer S
//	POST /expire-tokens?vendor=V        expire V's access tokens (eset, dlp)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "incident-sim:", err)
		os.Exit(1)
	}
}

type options struct {
	esetAddr, kasperskyAddr, dlpAddr, adminAddr string
	seed                                        int64
	incidents                                   int
	noLimits                                    bool
	esetRate                                    int
	dlpRate, dlpConcurrency                     int
	dlpWindow, dlpLatency                       time.Duration
	faults                                      []fault
	envFile                                     string
}

type fault struct {
	vendor string
	status int
	n      int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("incident-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.esetAddr, "eset-addr", "127.0.0.1:8701", "serve the ESET Connect simulator at `ADDR` (port 0: any free port)")
	fs.StringVar(&o.kasperskyAddr, "kaspersky-addr", "127.0.0.1:8702", "serve the Kaspersky Next XDR Expert simulator at `ADDR`")
	fs.StringVar(&o.dlpAddr, "dlp-addr", "127.0.0.1:8703", "serve the Cyberhaven DLP simulator at `ADDR`")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:8700", "serve /stats, /reset, /fail and /expire-tokens at `ADDR`")
	fs.StringVar(&o.envFile, "env-file", "", "also write the server's variables to `FILE` as export lines (source it: . FILE)")
	fs.Int64Var(&o.seed, "seed", demo.DefaultSeed, "dataset seed (the demo's by default)")
	fs.IntVar(&o.incidents, "incidents", demo.DefaultIncidents, "incidents per simulator")
	fs.BoolVar(&o.noLimits, "no-limits", false, "turn the vendors' rate and concurrency limits off")
	fs.IntVar(&o.esetRate, "eset-rate", 10, "ESET requests per second per API user (the vendor's 10)")
	fs.IntVar(&o.dlpRate, "dlp-rate", dlpsim.DefaultRateLimit, "DLP requests per window per API key (the vendor's 60)")
	fs.DurationVar(&o.dlpWindow, "dlp-window", dlpsim.DefaultRateWindow, "DLP rate window (the vendor's minute)")
	fs.IntVar(&o.dlpConcurrency, "dlp-concurrency", dlpsim.DefaultMaxConcurrent, "DLP requests in flight per endpoint (the vendor's 5)")
	fs.DurationVar(&o.dlpLatency, "dlp-latency", 0, "delay every DLP request while it holds its concurrency slot")
	fs.Func("fail", "inject a fault at start, `VENDOR:STATUS:N` (the next N requests answer STATUS); repeatable", func(s string) error {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			return errors.New("want VENDOR:STATUS:N, e.g. dlp:503:5")
		}
		st, err1 := strconv.Atoi(parts[1])
		n, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || st < 100 || st > 599 || n < 1 {
			return errors.New("want VENDOR:STATUS:N with an HTTP status and N >= 1")
		}
		o.faults = append(o.faults, fault{parts[0], st, n})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	}
	return o, nil
}

// sims is the running set of simulators, each behind its watch.
type sims struct {
	eset      *esetsim.Server
	kaspersky *kasperskysim.Server
	dlp       *dlpsim.Server
	watches   map[string]*watch
}

func newSims(o *options) *sims {
	// The demo's anchor: a restart the same day serves the same records.
	now := demo.Anchor(time.Now())
	ecfg := esetsim.Config{Seed: o.seed, Incidents: o.incidents, Now: now, RateLimit: o.esetRate}
	dcfg := dlpsim.Config{Seed: o.seed, Incidents: o.incidents, Now: now, RateLimit: o.dlpRate, RateWindow: o.dlpWindow, MaxConcurrent: o.dlpConcurrency, Latency: o.dlpLatency}
	if o.noLimits {
		ecfg.RateLimit = -1
		dcfg.RateLimit, dcfg.MaxConcurrent = 1<<30, 1<<20
	}
	s := &sims{
		eset:      esetsim.New(ecfg),
		kaspersky: kasperskysim.New(kasperskysim.Config{Seed: o.seed, Incidents: o.incidents, Now: now}),
		dlp:       dlpsim.New(dcfg),
	}
	s.watches = map[string]*watch{
		// ESET's limit counts API requests; sign-in is a separate service.
		"eset": newWatch(
			func(r *http.Request) bool { return r.URL.Path != "/oauth/token" },
			func(r *http.Request) string {
				if r.URL.Path == "/oauth/token" {
					return "token"
				}
				return "api"
			}),
		"kaspersky": newWatch(
			func(*http.Request) bool { return true },
			func(*http.Request) string { return "api" }),
		// Cyberhaven counts token exchanges in the key's window too, and
		// bounds requests in flight per endpoint.
		"dlp": newWatch(
			func(*http.Request) bool { return true },
			func(r *http.Request) string {
				switch {
				case strings.HasSuffix(r.URL.Path, "/auth/token/access"):
					return "token"
				case strings.HasSuffix(r.URL.Path, "/incidents/list"):
					return "list"
				}
				return "update"
			}),
	}
	return s
}

func (s *sims) failNext(vendor string, status, n int) error {
	switch vendor {
	case "eset":
		s.eset.FailNext(status, n)
	case "kaspersky":
		s.kaspersky.FailNext(status, n)
	case "dlp":
		s.dlp.FailNext(status, n)
	default:
		return fmt.Errorf("unknown vendor %q; use eset, kaspersky or dlp", vendor)
	}
	return nil
}

func (s *sims) stats() map[string]report {
	out := map[string]report{}
	for name, w := range s.watches {
		r := w.report()
		switch name {
		case "eset":
			r.Simulator = s.eset.Stats()
		case "kaspersky":
			r.Simulator = s.kaspersky.Stats()
		case "dlp":
			r.Simulator = s.dlp.Stats()
		}
		out[name] = r
	}
	return out
}

func (s *sims) admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.stats())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		for _, w := range s.watches {
			w.reset()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		status, err1 := strconv.Atoi(r.FormValue("status"))
		n, err2 := strconv.Atoi(r.FormValue("n"))
		if err1 != nil || err2 != nil {
			http.Error(w, "status and n must be integers", http.StatusBadRequest)
			return
		}
		if err := s.failNext(r.FormValue("vendor"), status, n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /expire-tokens", func(w http.ResponseWriter, r *http.Request) {
		switch r.FormValue("vendor") {
		case "eset":
			s.eset.ExpireTokens()
		case "dlp":
			s.dlp.ExpireTokens()
		default:
			http.Error(w, "vendor must be eset or dlp (Kaspersky's API tokens do not expire)", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Endpoints is the first line incident-sim prints on stdout: where each
// simulator listens, so a script or test that asked for port 0 finds them.
type Endpoints struct {
	ESET      string `json:"eset"`
	Kaspersky string `json:"kaspersky"`
	DLP       string `json:"dlp"`
	Admin     string `json:"admin"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s := newSims(o)
	for _, f := range o.faults {
		if err := s.failNext(f.vendor, f.status, f.n); err != nil {
			return fmt.Errorf("-fail: %w", err)
		}
	}

	var servers []*http.Server
	defer func() {
		for _, srv := range servers {
			srv.Close()
		}
	}()
	serve := func(addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			log.Warn("serving a simulator beyond loopback: it accepts the well-known demo credentials", "addr", ln.Addr())
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go srv.Serve(ln)
		return "http://" + ln.Addr().String(), nil
	}
	var ep Endpoints
	for _, x := range []struct {
		url  *string
		addr string
		h    http.Handler
	}{
		{&ep.ESET, o.esetAddr, s.watches["eset"].wrap(s.eset)},
		{&ep.Kaspersky, o.kasperskyAddr, s.watches["kaspersky"].wrap(s.kaspersky)},
		{&ep.DLP, o.dlpAddr, s.watches["dlp"].wrap(s.dlp)},
		{&ep.Admin, o.adminAddr, s.admin()},
	} {
		if *x.url, err = serve(x.addr, x.h); err != nil {
			return err
		}
	}
	exports := exportLines(ep)
	if o.envFile != "" {
		// Before the endpoints line: whoever read that line finds the file.
		if err := os.WriteFile(o.envFile, []byte(exports), 0o600); err != nil {
			return fmt.Errorf("-env-file: %w", err)
		}
	}
	line, _ := json.Marshal(ep)
	fmt.Fprintf(stdout, "%s\n", line)
	// Plain lines a person pastes into the shell that runs incident-mcp.
	fmt.Fprintf(stderr, "# simulators serving; point incident-mcp at them (paste, or source the -env-file):\n%s", exports)
	<-ctx.Done()
	return nil
}

// exportLines is envFor as shell export lines, each value single-quoted.
func exportLines(ep Endpoints) string {
	var b strings.Builder
	for _, kv := range strings.Split(envFor(ep), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
	}
	return b.String()
}

// envFor is the server configuration that uses the simulators.
func envFor(ep Endpoints) string {
	return strings.Join([]string{
		"ESET_API_URL=" + ep.ESET, "ESET_TOKEN_URL=" + ep.ESET + "/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo",
		"KASPERSKY_URL=" + ep.Kaspersky, "KASPERSKY_TOKEN=" + kasperskysim.DefaultToken,
		"DLP_URL=" + ep.DLP, "DLP_API_KEY=" + dlpsim.DefaultAPIKey,
	}, "\n")
}
