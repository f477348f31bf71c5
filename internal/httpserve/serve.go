package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Config configures Serve. Zero durations and sizes take the defaults.
type Config struct {
	// Addr is the listen address, e.g. 127.0.0.1:8080 or :8443.
	Addr string
	// Listener, when set, is used instead of listening on Addr (tests).
	Listener net.Listener
	MCP      *server.MCPServer
	Logger   *slog.Logger

	// Tokens and OAuth are the authentication modes; at most one is set.
	Tokens *Tokens
	OAuth  *OAuth
	// InsecureNoAuth allows a non-loopback bind without authentication.
	InsecureNoAuth bool
	// ObserveAuth is told each authentication outcome (metrics); optional.
	ObserveAuth AuthObserver

	// AllowedOrigins replaces the default (loopback origins only).
	AllowedOrigins []string
	// AllowedHosts is the Host allow-list. Empty: on a loopback bind
	// mcp-go's DNS-rebinding guard applies; on other binds the OAuth
	// resource's host when there is one, else any Host (logged).
	AllowedHosts []string
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64

	ReadHeaderTimeout time.Duration // default 10 s
	// ReadTimeout bounds reading one request body (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds one POST's response, including a tool call that
	// waits for a human to confirm through elicitation (default 10 min).
	// GET streams are exempt: heartbeats and the session TTL bound them.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // keep-alive connections, default 2 min
	// SessionIdleTTL reaps sessions idle this long (default 30 min).
	SessionIdleTTL time.Duration
	// Heartbeat is the SSE keep-alive interval on GET streams (default 30 s).
	Heartbeat time.Duration
	// ShutdownGrace is how long in-flight calls get after SIGTERM (default 20 s).
	ShutdownGrace time.Duration

	TLSCert, TLSKey string

	// Public are served without authentication next to /mcp, e.g.
	// /healthz and a terse /readyz for the orchestrator's probes.
	Public map[string]http.Handler
	// Private are served next to /mcp behind the same authentication as
	// /mcp, e.g. /metrics when there is no admin listener.
	Private map[string]http.Handler

	// Sessions remembers which principal created each MCP session
	// (default: in memory; shared through Redis across replicas).
	Sessions SessionStore
	// MaxSessionsPerCaller caps the sessions one principal holds open
	// (default 100; negative: no cap).
	MaxSessionsPerCaller int
	// CallLimiter bounds each principal's request rate to /mcp; nil
	// applies none.
	CallLimiter CallLimiter
	// CallerLabels puts caller names into the authentication metric;
	// off by default, since names are personal data and unbounded.
	CallerLabels bool
	// Routes, when set, registers more handlers that authenticate on
	// their own (the approval page, whose users are people with a login,
	// not bearer-token clients).
	Routes func(*http.ServeMux)
	// OnDrain is called when shutdown begins (readiness turns false).
	OnDrain func()
	// OnListen is called with the bound address once listening.
	OnListen func(net.Addr)
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.WriteTimeout, 10*time.Minute)
	def(&c.IdleTimeout, 2*time.Minute)
	def(&c.SessionIdleTTL, 30*time.Minute)
	def(&c.Heartbeat, 30*time.Second)
	def(&c.ShutdownGrace, 20*time.Second)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ObserveAuth == nil {
		c.ObserveAuth = func(string, string) {}
	}
	if c.Sessions == nil {
		c.Sessions = NewMemSessions()
	}
	if c.MaxSessionsPerCaller == 0 {
		c.MaxSessionsPerCaller = 100
	}
}

// ErrNoAuth is returned for a non-loopback bind without authentication.
var ErrNoAuth = errors.New("refusing to serve HTTP on a non-loopback address without authentication: set --http-tokens-file or --oauth-issuer (or, only behind something that authenticates, --http-insecure-no-auth)")

// Check validates the configuration without listening.
func (c *Config) Check() error {
	if c.Tokens != nil && c.OAuth != nil {
		return errors.New("choose one authentication mode: a tokens file or OAuth, not both")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("TLS needs both a certificate and a key")
	}
	if c.Listener == nil && !IsLoopbackAddr(c.Addr) && c.Tokens == nil && c.OAuth == nil && !c.InsecureNoAuth {
		return ErrNoAuth
	}
	return nil
}

// Serve serves until ctx ends, then shuts down gracefully: readiness turns
// false, GET streams end, and in-flight calls get ShutdownGrace to finish.
func Serve(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if err := cfg.Check(); err != nil {
		return err
	}
	log := cfg.Logger
	loopback := cfg.Listener == nil && IsLoopbackAddr(cfg.Addr)
	var auth Authenticator
	switch {
	case cfg.Tokens != nil:
		auth = cfg.Tokens
	case cfg.OAuth != nil:
		auth = cfg.OAuth
	case !loopback:
		log.Warn("HTTP AUTHENTICATION IS OFF on a non-loopback address (--http-insecure-no-auth): anyone who reaches this port can read and change incidents; only run this behind a proxy that authenticates", "addr", cfg.Addr)
	}
	hosts := cfg.AllowedHosts
	if len(hosts) == 0 && cfg.OAuth != nil {
		hosts = []string{hostOf(cfg.OAuth.cfg.Resource)}
	}
	if len(hosts) == 0 && !loopback {
		log.Warn("no Host allow-list on a non-loopback address: any Host header is accepted; set --http-allowed-hosts")
	}

	guard := &sessionGuard{store: cfg.Sessions, max: cfg.MaxSessionsPerCaller, ttl: cfg.SessionIdleTTL, log: log}
	opts := []server.StreamableHTTPOption{
		server.WithStreamableHTTPLogger(log),
		server.WithSessionIdleTTL(cfg.SessionIdleTTL),
		server.WithHeartbeatInterval(cfg.Heartbeat),
		server.WithSessionIdManagerResolver(guard),
	}
	if len(hosts) > 0 || !loopback {
		// Our Host allow-list replaces mcp-go's loopback-only guard.
		opts = append(opts, server.WithDisableLocalhostProtection(true))
	}
	reclaimCtx, stopReclaim := context.WithCancel(context.Background())
	defer stopReclaim()
	reclaimMemory(reclaimCtx, cfg.MCP, cfg.SessionIdleTTL)
	mcpHTTP := server.NewStreamableHTTPServer(cfg.MCP, opts...)

	shutdown, beginShutdown := context.WithCancel(context.Background())
	defer beginShutdown()
	h := guard.wrap(mcpHTTP)
	h = streams(shutdown, h)
	if cfg.CallLimiter != nil {
		h = limitCalls(cfg.CallLimiter, log, h)
	}
	h = limitBody(cfg.MaxBodyBytes, cfg.ReadTimeout, h)
	authenticate := func(next http.Handler) http.Handler {
		if auth == nil {
			return anonymous(next)
		}
		return requireAuth(auth, log, observeAuth(cfg.ObserveAuth, cfg.CallerLabels), next)
	}
	h = checkOrigin(cfg.AllowedOrigins, authenticate(h))

	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	if cfg.OAuth != nil {
		meta := server.NewProtectedResourceMetadataHandler(cfg.OAuth.Metadata())
		mux.Handle(server.WellKnownProtectedResourcePath, meta)
		mux.Handle(server.ProtectedResourceMetadataPath(cfg.OAuth.cfg.Resource), meta)
	}
	for path, ph := range cfg.Public {
		mux.Handle(path, ph)
	}
	for path, ph := range cfg.Private {
		mux.Handle(path, authenticate(ph))
	}
	if cfg.Routes != nil {
		cfg.Routes(mux)
	}
	// The Host allow-list guards every route, not only /mcp: the approval
	// page and the operational endpoints are as open to DNS rebinding.
	var root http.Handler = mux
	switch {
	case len(hosts) > 0:
		root = checkHost(hosts, mux)
	case loopback:
		root = checkHost(loopbackHosts, mux)
	}

	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return err
		}
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cr, err := newCertReloader(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.getCertificate, NextProtos: []string{"h2", "http/1.1"}})
		scheme = "https"
	}
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}
	mode := "none"
	if cfg.Tokens != nil {
		mode = fmt.Sprintf("bearer tokens (%d)", cfg.Tokens.Len())
	} else if cfg.OAuth != nil {
		mode = "oauth " + cfg.OAuth.cfg.Issuer
	}
	log.Info("serving MCP over streamable HTTP", "url", scheme+"://"+ln.Addr().String()+"/mcp", "auth", mode)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = mcpHTTP.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight calls", "grace", cfg.ShutdownGrace)
	if cfg.OnDrain != nil {
		cfg.OnDrain()
	}
	beginShutdown()
	graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(graceCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("grace period over: closing the connections still open")
		err = srv.Close()
	}
	_ = mcpHTTP.Shutdown(context.Background())
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// hostOf is the host name of an absolute URL.
func hostOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Hostname()
}
