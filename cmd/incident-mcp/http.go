package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"

	"github.com/incident-mcp/incident-mcp/internal/httpserve"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
)

// httpOptions are the flags of the HTTP transport and of telemetry.
type httpOptions struct {
	tokensFile     string
	oauthIssuer    string
	oauthResource  string
	oauthJWKS      string
	oauthScopes    string
	oauthSkew      time.Duration
	insecureNoAuth bool
	allowedOrigins string
	allowedHosts   string
	maxBody        int64
	sessionTTL     time.Duration
	writeTimeout   time.Duration
	shutdownGrace  time.Duration
	tlsCert        string
	tlsKey         string
	metricsAddr    string
	probe          string
	// Limits per principal and the operator's say over what is exposed.
	maxSessions   int
	callRate      float64
	callBurst     int
	callerLabels  bool
	allowInsecure bool
}

func (h *httpOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&h.tokensFile, "http-tokens-file", "", "authenticate HTTP callers with the bearer tokens in `FILE` (one per line: TOKEN, NAME TOKEN or NAME TOKEN GROUP,GROUP; reloaded on SIGHUP)")
	fs.StringVar(&h.oauthIssuer, "oauth-issuer", "", "authenticate HTTP callers with JWT access tokens from this OAuth 2.1 issuer `URL`")
	fs.StringVar(&h.oauthResource, "oauth-resource", "", "this server's canonical `URL` (e.g. https://mcp.example.com/mcp): tokens must name it in aud")
	fs.StringVar(&h.oauthJWKS, "oauth-jwks-url", "", "the issuer's JWKS `URL` (default: discovered from the issuer's metadata)")
	fs.StringVar(&h.oauthScopes, "oauth-scopes", "", "comma-separated `scopes` every token must carry (published in the resource metadata)")
	fs.DurationVar(&h.oauthSkew, "oauth-clock-skew", time.Minute, "leeway on token expiry and not-before")
	fs.BoolVar(&h.insecureNoAuth, "http-insecure-no-auth", false, "allow a non-loopback --http address without authentication (only behind a proxy that authenticates; logged loudly)")
	fs.StringVar(&h.allowedOrigins, "http-allowed-origins", "", "comma-separated browser `origins` allowed (default: loopback origins only)")
	fs.StringVar(&h.allowedHosts, "http-allowed-hosts", "", "comma-separated `hosts` the Host header may name (default: loopback names on a loopback bind; the --oauth-resource host)")
	fs.Int64Var(&h.maxBody, "http-max-body", 1<<20, "largest request body in `bytes` (larger: 413)")
	fs.DurationVar(&h.sessionTTL, "http-session-ttl", 30*time.Minute, "reap MCP sessions idle this long")
	fs.DurationVar(&h.writeTimeout, "http-write-timeout", 10*time.Minute, "longest POST response, including waiting for a human to confirm a write")
	fs.DurationVar(&h.shutdownGrace, "shutdown-grace", 20*time.Second, "on SIGTERM, how long in-flight calls get to finish")
	fs.StringVar(&h.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM; reloaded when it changes)")
	fs.StringVar(&h.tlsKey, "tls-key", "", "the certificate's private key `FILE` (PEM)")
	fs.StringVar(&h.probe, "probe", "", "GET `URL` and exit 0 if it answers 200: a container health check for an image without a shell")
	fs.StringVar(&h.metricsAddr, "metrics-addr", "", "serve /metrics and the detailed /readyz on this admin `ADDR` (keep it loopback or on a private port); without it /metrics on the --http listener needs the same authentication as /mcp")
	fs.IntVar(&h.maxSessions, "http-max-sessions-per-caller", 100, "most MCP sessions one authenticated caller may hold open (further initialize: 429; negative: no cap)")
	fs.Float64Var(&h.callRate, "http-caller-rate", 50, "requests per second one authenticated caller may send to /mcp on average (shared by replicas through Redis; 0: no limit)")
	fs.IntVar(&h.callBurst, "http-caller-burst", 100, "burst of requests one caller may send at once above --http-caller-rate")
	fs.BoolVar(&h.callerLabels, "metrics-caller-labels", false, "label the authentication metric with token names instead of the method (names are personal data)")
	fs.BoolVar(&h.allowInsecure, "allow-insecure-http", false, "accept an http:// OAuth issuer, JWKS, OIDC issuer or --approval-url off loopback (only on a network you trust)")
}

// authenticates reports whether HTTP callers are told apart, so that what
// one sees may differ from another (list cache hints turn private).
func (h *httpOptions) authenticates() bool {
	return h.tokensFile != "" || h.oauthIssuer != ""
}

// httpConfig builds the transport configuration; it fails before anything
// listens, so a refused configuration never serves a single request.
func (h *httpOptions) httpConfig(addr string, s *server.MCPServer, m *telemetry.Metrics, log *slog.Logger) (httpserve.Config, error) {
	cfg := httpserve.Config{
		Addr: addr, MCP: s, Logger: log, InsecureNoAuth: h.insecureNoAuth,
		AllowedOrigins: commaList(h.allowedOrigins), AllowedHosts: commaList(h.allowedHosts),
		MaxBodyBytes: h.maxBody, SessionIdleTTL: h.sessionTTL, WriteTimeout: h.writeTimeout,
		ShutdownGrace: h.shutdownGrace, TLSCert: h.tlsCert, TLSKey: h.tlsKey,
		ObserveAuth: m.ObserveAuth, OnDrain: m.Health().Drain,
	}
	// The orchestrator's probes need no token and learn nothing but
	// "ready"; metrics name instances and outcomes, so they sit behind the
	// callers' authentication or on the admin listener.
	cfg.Public = map[string]http.Handler{"/healthz": m.Health().Healthz(), "/readyz": m.Health().ReadyzBrief()}
	if h.metricsAddr == "" {
		cfg.Private = map[string]http.Handler{"/metrics": m.Handler()}
	}
	cfg.MaxSessionsPerCaller, cfg.CallerLabels = h.maxSessions, h.callerLabels
	if h.callRate > 0 {
		cfg.CallLimiter = httpserve.NewLocalCallLimiter(h.callRate, h.callBurst)
	}
	if h.tokensFile != "" {
		t, err := httpserve.LoadTokens(h.tokensFile)
		if err != nil {
			return cfg, err
		}
		cfg.Tokens = t
	}
	if h.oauthIssuer != "" || h.oauthResource != "" {
		if h.oauthIssuer == "" || h.oauthResource == "" {
			return cfg, errors.New("OAuth needs both --oauth-issuer and --oauth-resource")
		}
		o, err := httpserve.NewOAuth(httpserve.OAuthConfig{
			Issuer: h.oauthIssuer, Resource: h.oauthResource, JWKSURL: h.oauthJWKS,
			Scopes: commaList(h.oauthScopes), ClockSkew: h.oauthSkew, AllowHTTP: h.allowInsecure,
		})
		if err != nil {
			return cfg, err
		}
		cfg.OAuth = o
	}
	return cfg, cfg.Check()
}

// probe is the container health check: the image has no curl.
func probe(url string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// serveHTTP serves until ctx ends; SIGHUP reloads the tokens file.
func serveHTTP(ctx context.Context, cfg httpserve.Config) error {
	if cfg.Tokens != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := cfg.Tokens.Reload(); err != nil {
						cfg.Logger.Error("tokens not reloaded; the previous ones stay in force", "err", err)
					} else {
						cfg.Logger.Info("tokens reloaded", "tokens", cfg.Tokens.Len())
					}
				}
			}
		}()
	}
	return httpserve.Serve(ctx, cfg)
}

// startTelemetry instruments s and, with --metrics-addr, serves the
// operational endpoints on their own address.
func startTelemetry(ctx context.Context, h *httpOptions, s *server.MCPServer, m *telemetry.Metrics, tp trace.TracerProvider, transport string, log *slog.Logger) error {
	m.Instrument(s, transport)
	s.Use(telemetry.ToolTracing(tp, transport), telemetry.CallLog(log))
	if h.metricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", h.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	go func() {
		if err := telemetry.ServeAdmin(ctx, ln, m.Handlers(), log); err != nil {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return nil
}

// commaList splits a comma-separated flag value, dropping empty items.
func commaList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
