// Package faultproxy is a reverse proxy that injects faults between a client
// and the server behind it, for tests of what a client does when a vendor
// misbehaves: error statuses (500, 502, 503, and 429 with Retry-After),
// connections reset before or after the request is forwarded, bodies cut
// short, and slow answers. Which request gets which fault is drawn from a
// seeded random source; counters say what was injected.
//
// Faults that answer without forwarding (statuses, a reset before) never
// reach the server: the request had no effect. A reset after forwarding and
// a cut body did reach it: the server acted, the client cannot know.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Fault is one kind of injected failure.
type Fault string

// The faults.
const (
	None        Fault = ""
	Status500   Fault = "500"
	Status502   Fault = "502"
	Status503   Fault = "503"
	Status429   Fault = "429"
	ResetBefore Fault = "reset-before"
	ResetAfter  Fault = "reset-after"
	Truncate    Fault = "truncate"
	Delay       Fault = "delay"
)

// Faults lists every fault, in a fixed order.
var Faults = []Fault{Status500, Status502, Status503, Status429, ResetBefore, ResetAfter, Truncate, Delay}

// Config configures a Proxy.
type Config struct {
	// Target is the server's base URL.
	Target string
	// Seed makes the draw of faults repeatable for one order of requests.
	Seed uint64
	// Ratio is the share of requests that get each fault; the shares add
	// up to at most 1.
	Ratio map[Fault]float64
	// DelayFor is how long a Delay fault holds a request before forwarding
	// it; 0 means 2 s.
	DelayFor time.Duration
	// RetryAfter is the Retry-After of an injected 429, in seconds; 0
	// means 1.
	RetryAfter int
	// Spare, when set, exempts the requests it returns true for.
	Spare func(*http.Request) bool
}

// Uniform spreads total evenly over every fault: Uniform(0.2) faults one
// request in five.
func Uniform(total float64) map[Fault]float64 {
	m := map[Fault]float64{}
	for _, f := range Faults {
		m[f] = total / float64(len(Faults))
	}
	return m
}

// Proxy is an http.Handler; it is safe for concurrent use.
type Proxy struct {
	cfg   Config
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	rng      *rand.Rand
	counts   map[Fault]int
	requests int
}

type faultKey struct{}

// errResetAfter tells the error handler to reset the client's connection
// once the server has answered.
var errResetAfter = errors.New("faultproxy: reset after forwarding")

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	target, err := url.Parse(cfg.Target)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not a URL", cfg.Target)
	}
	sum := 0.0
	for _, r := range cfg.Ratio {
		sum += r
	}
	if sum > 1 {
		return nil, fmt.Errorf("faultproxy: fault ratios add up to %.2f, more than 1", sum)
	}
	if cfg.DelayFor == 0 {
		cfg.DelayFor = 2 * time.Second
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 1
	}
	p := &Proxy{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), counts: map[Fault]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cut bodies are on purpose
	// Flush every write, so that a cut body's first half and its headers
	// reach the client before the connection is aborted.
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		switch resp.Request.Context().Value(faultKey{}) {
		case ResetAfter:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return errResetAfter
		case Truncate:
			// Keep the server's Content-Length and send half the body: the
			// copy fails and the proxy aborts the connection mid-body.
			resp.Body = &halfBody{rc: resp.Body, left: max(resp.ContentLength/2, 1)}
		}
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, errResetAfter) {
			reset(w)
			return
		}
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
	}
	p.proxy = rp
	return p, nil
}

// halfBody yields the first left bytes of a body, then fails.
type halfBody struct {
	rc   io.ReadCloser
	left int64
}

func (h *halfBody) Read(b []byte) (int, error) {
	if h.left <= 0 {
		return 0, errors.New("faultproxy: body cut short")
	}
	if int64(len(b)) > h.left {
		b = b[:h.left]
	}
	n, err := h.rc.Read(b)
	h.left -= int64(n)
	return n, err
}

func (h *halfBody) Close() error { return h.rc.Close() }

// draw picks the fault for one request.
func (p *Proxy) draw(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.cfg.Spare != nil && p.cfg.Spare(r) {
		return None
	}
	x := p.rng.Float64()
	for _, f := range Faults {
		if x < p.cfg.Ratio[f] {
			p.counts[f]++
			return f
		}
		x -= p.cfg.Ratio[f]
	}
	return None
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := p.draw(r)
	switch f {
	case Status500, Status502, Status503, Status429:
		io.Copy(io.Discard, r.Body)
		status, _ := strconv.Atoi(string(f))
		if f == Status429 || f == Status503 {
			w.Header().Set("Retry-After", strconv.Itoa(p.cfg.RetryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"faultproxy: injected %d"}`, status)
		return
	case ResetBefore:
		io.Copy(io.Discard, r.Body)
		reset(w)
		return
	case Delay:
		t := time.NewTimer(p.cfg.DelayFor)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// Stats is what a proxy saw and did.
type Stats struct {
	Requests int
	Injected map[Fault]int
}

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{Requests: p.requests, Injected: map[Fault]int{}}
	for f, n := range p.counts {
		st.Injected[f] = n
	}
	return st
}

// Serve starts p on a free loopback port and returns its URL and a function
// that stops it.
func Serve(p *Proxy) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("faultproxy: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
