// Command incident-sim serves every registered vendor's simulator (ESET
// Connect, Kaspersky Next XDR Expert, Cyberhaven DLP: vendors/registry) as
// one standalone process on loopback, with the demo's datasets and the
// vendors' rate limits on, for replicas of the server, load tests and manual
// tries. Point the server at it through the ordinary vendor configuration
// (it prints the variables).
//
// An admin endpoint reports what each simulator saw, counting attempts before
// the simulator answers them, refused ones included:
//
//	GET  /stats                         per simulator: attempts, rates, peak concurrency, 429s sent
//	POST /reset                         start the counts afresh
//	POST /fail?vendor=V&status=S&n=N    the next N requests to V answer S
//	POST /expire-tokens?vendor=V        expire V's access tokens (vendors whose tokens expire: eset, dlp)
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
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
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
	adminAddr string
	// addrs and newSim are per vendor key: where its simulator listens and
	// how it is made (with the vendor's own tuning flags applied).
	addrs     map[string]*string
	newSim    map[string]func(descriptor.SimOptions) descriptor.Simulator
	seed      int64
	incidents int
	noLimits  bool
	faults    []fault
	envFile   string
}

type fault struct {
	vendor string
	status int
	n      int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("incident-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{addrs: map[string]*string{}, newSim: map[string]func(descriptor.SimOptions) descriptor.Simulator{}}
	for _, v := range registry.All() {
		o.addrs[v.Key()] = fs.String(v.Key()+"-addr", fmt.Sprintf("127.0.0.1:%d", v.Simulation.Port), "serve the "+v.Name+" simulator at `ADDR` (port 0: any free port)")
		o.newSim[v.Key()] = v.Simulation.New
		if v.Simulation.Flags != nil {
			o.newSim[v.Key()] = v.Simulation.Flags(fs)
		}
	}
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:8700", "serve /stats, /reset, /fail and /expire-tokens at `ADDR`")
	fs.StringVar(&o.envFile, "env-file", "", "also write the server's variables to `FILE` as export lines (source it: . FILE)")
	fs.Int64Var(&o.seed, "seed", demo.DefaultSeed, "dataset seed (the demo's by default)")
	fs.IntVar(&o.incidents, "incidents", demo.DefaultIncidents, "incidents per simulator")
	fs.BoolVar(&o.noLimits, "no-limits", false, "turn the vendors' rate and concurrency limits off")
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

// sims is the running set of simulators, each behind its watch, by
// vendor key.
type sims struct {
	sims    map[string]descriptor.Simulator
	watches map[string]*watch
}

func newSims(o *options) *sims {
	// The demo's anchor: a restart the same day serves the same records.
	opts := descriptor.SimOptions{Seed: o.seed, Incidents: o.incidents, Now: demo.Anchor(time.Now()), Unlimited: o.noLimits}
	s := &sims{sims: map[string]descriptor.Simulator{}, watches: map[string]*watch{}}
	for _, v := range registry.All() {
		s.sims[v.Key()] = o.newSim[v.Key()](opts)
		s.watches[v.Key()] = newWatch(v.Simulation.Route)
	}
	return s
}

func (s *sims) failNext(vendor string, status, n int) error {
	sim, ok := s.sims[vendor]
	if !ok {
		return fmt.Errorf("unknown vendor %q; use one of %s", vendor, strings.Join(registry.Keys(), ", "))
	}
	sim.FailNext(status, n)
	return nil
}

func (s *sims) stats() map[string]report {
	out := map[string]report{}
	for name, w := range s.watches {
		r := w.report()
		r.Simulator = s.sims[name].Stats()
		out[name] = r
	}
	return out
}

// expiring are the keys of the vendors whose access tokens expire.
func (s *sims) expiring() []string {
	var out []string
	for _, k := range registry.Keys() {
		if _, ok := s.sims[k].(descriptor.TokenExpirer); ok {
			out = append(out, k)
		}
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
		te, ok := s.sims[r.FormValue("vendor")].(descriptor.TokenExpirer)
		if !ok {
			http.Error(w, "vendor must be one whose access tokens expire: "+strings.Join(s.expiring(), ", "), http.StatusBadRequest)
			return
		}
		te.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Endpoints is the first line incident-sim prints on stdout: where each
// simulator listens, by vendor key, and the admin endpoint under "admin",
// so a script or test that asked for port 0 finds them.
type Endpoints map[string]string

// adminKey is the admin endpoint's key in Endpoints.
const adminKey = "admin"

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
	ep := Endpoints{}
	for _, k := range registry.Keys() {
		if ep[k], err = serve(*o.addrs[k], s.watches[k].wrap(s.sims[k])); err != nil {
			return err
		}
	}
	if ep[adminKey], err = serve(o.adminAddr, s.admin()); err != nil {
		return err
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
	var env []string
	for _, v := range registry.All() {
		env = append(env, v.Simulation.Env(ep[v.Key()], false)...)
	}
	return strings.Join(env, "\n")
}
