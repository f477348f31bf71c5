package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type options struct {
	demo            bool
	readOnly        bool
	elicitationOnly bool
	auditLog        string
	logLevel        slog.Level
	httpAddr        string
	version         bool
	http            httpOptions
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("incident-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.BoolVar(&o.demo, "demo", false, "serve the built-in demo: vendor simulators on loopback with a seeded dataset, no credentials")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error (logs go to stderr)")
	fs.StringVar(&o.httpAddr, "http", "", "serve streamable HTTP at `ADDR` (e.g. 127.0.0.1:8080) on /mcp instead of stdio")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.readOnly, "read-only", false, "never write: update_incident is neither listed nor callable")
	fs.BoolVar(&o.elicitationOnly, "elicitation-only", false, "confirm writes only through the client's elicitation prompt, never with confirmation tokens")
	fs.StringVar(&o.auditLog, "audit-log", "", "append every write to this JSON-lines `FILE` (default: $XDG_STATE_HOME/incident-mcp/audit.jsonl)")
	o.http.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: incident-mcp [flags]\n\nAn MCP server for security incidents. Configuration comes from the environment:\n%s\nFlags:\n", envHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	}
	return o, nil
}

const envHelp = `  INCIDENT_MCP_SECRET, INCIDENT_MCP_SECRET_FILE  key that signs cursors (>= 32 bytes); random per process when unset
  ESET_REGION                                    eu, de, us, ca or jpn
  ESET_API_URL, ESET_TOKEN_URL                   explicit endpoints instead of a region
  ESET_USERNAME, ESET_USERNAME_FILE              ESET Connect API user
  ESET_PASSWORD, ESET_PASSWORD_FILE              its password
  KASPERSKY_URL                                  console API base, e.g. https://api.xdr.example.com
  KASPERSKY_TOKEN, KASPERSKY_TOKEN_FILE          API token made in the console
  KASPERSKY_TENANTS                              comma-separated tenant IDs (default: every readable tenant)
  KASPERSKY_CA_FILE                              PEM CA bundle for an on-premises certificate
  KASPERSKY_INSECURE=true                        skip certificate checks (logged loudly)
  DLP_URL                                        Cyberhaven tenant, e.g. https://acme.cyberhaven.io
  DLP_PATH_PREFIX                                /v2 (default) or /public/v2
  DLP_API_KEY, DLP_API_KEY_FILE                  API key
  ESET_READ_ONLY, KASPERSKY_READ_ONLY, DLP_READ_ONLY=true   refuse writes to that instance
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, "incident-mcp", version)
		return nil
	}
	if o.http.probe != "" {
		return probe(o.http.probe)
	}
	log := newLogger(stderr, o.logLevel)
	env := envReader{getenv}

	secret, err := env.secret("INCIDENT_MCP_SECRET")
	if err != nil {
		return err
	}
	if secret == "" {
		b := make([]byte, 32)
		rand.Read(b)
		secret = string(b)
		log.Warn("INCIDENT_MCP_SECRET is not set: using a random key, so cursors do not survive a restart and replicas cannot share them")
	}
	sealer, err := incidents.NewSealer([]byte(secret))
	if err != nil {
		return fmt.Errorf("INCIDENT_MCP_SECRET: %w", err)
	}

	metrics := telemetry.NewMetrics()
	tp, stopTracing, err := telemetry.NewTracerProvider(ctx, getenv, version)
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	vendorHTTP := metrics.VendorTransports(tp)

	var instances []*incidents.Instance
	if o.demo {
		env, err := demo.Start(demo.Options{Logger: log})
		if err != nil {
			return err
		}
		defer env.Close()
		log.Info("demo: vendor simulators serving on loopback", "urls", env.URLs)
		instances = env.Instances
	} else {
		instances, err = instancesFromEnv(env, log, vendorHTTP.Client)
		if err != nil {
			return err
		}
	}
	svcOpts := []incidents.Option{}
	if !o.readOnly {
		path := o.auditLog
		if path == "" {
			if path, err = defaultAuditPath(env); err != nil {
				return err
			}
		}
		auditLog, err := audit.Open(path)
		if err != nil {
			return err
		}
		defer auditLog.Close()
		log.Info("writes are audited", "path", path)
		svcOpts = append(svcOpts, incidents.WithAudit(auditLog))
	}
	svc, err := incidents.New(instances, sealer, log, svcOpts...)
	if err != nil {
		return err
	}
	mcpServer := tools.NewServer(svc, version, log, tools.Options{ReadOnly: o.readOnly, Update: tools.UpdateOptions{ElicitationOnly: o.elicitationOnly}})
	for _, in := range instances {
		metrics.Health().Register(in.Name)
	}

	if o.httpAddr != "" {
		cfg, err := o.http.httpConfig(o.httpAddr, mcpServer, metrics, log)
		if err != nil {
			return err
		}
		if err := startTelemetry(ctx, &o.http, mcpServer, metrics, tp, telemetry.TransportHTTP, log); err != nil {
			return err
		}
		return serveHTTP(ctx, cfg)
	}
	if err := startTelemetry(ctx, &o.http, mcpServer, metrics, tp, telemetry.TransportStdio, log); err != nil {
		return err
	}
	log.Info("serving MCP on stdio", "instances", len(instances))
	stdio := server.NewStdioServer(mcpServer)
	err = stdio.Listen(ctx, stdin, stdout)
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	noColor := true
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			noColor = false
		}
	}
	return slog.New(tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: noColor}))
}

// envReader reads configuration from the environment; a NAME_FILE variable
// names a file holding the value (Docker and Kubernetes secrets).
type envReader struct{ get func(string) string }

func (e envReader) secret(name string) (string, error) {
	if path := e.get(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return e.get(name), nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// defaultAuditPath follows the XDG base directory spec for state.
func defaultAuditPath(env envReader) (string, error) {
	dir := env.get("XDG_STATE_HOME")
	if dir == "" {
		home := env.get("HOME")
		if home == "" {
			return "", errors.New("no audit log path: set --audit-log, XDG_STATE_HOME or HOME")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "incident-mcp", "audit.jsonl"), nil
}

// instancesFromEnv builds the instances the environment configures; client
// returns each instance's instrumented HTTP client.
func instancesFromEnv(env envReader, log *slog.Logger, client func(instance string) *http.Client) ([]*incidents.Instance, error) {
	var out []*incidents.Instance
	user, err := env.secret("ESET_USERNAME")
	if err != nil {
		return nil, err
	}
	pass, err := env.secret("ESET_PASSWORD")
	if err != nil {
		return nil, err
	}
	if user != "" || pass != "" || env.get("ESET_REGION") != "" {
		d, err := eset.New(eset.Config{
			Region: env.get("ESET_REGION"), APIURL: env.get("ESET_API_URL"), TokenURL: env.get("ESET_TOKEN_URL"),
			Username: user, Password: pass, Logger: log.With("instance", "eset"), HTTPClient: client("eset"),
		})
		if err != nil {
			return nil, err
		}
		out = append(out, &incidents.Instance{Name: "eset", Driver: d, ReadOnly: env.get("ESET_READ_ONLY") == "true"})
	}
	ktoken, err := env.secret("KASPERSKY_TOKEN")
	if err != nil {
		return nil, err
	}
	if ktoken != "" || env.get("KASPERSKY_URL") != "" {
		kc := kaspersky.Config{
			BaseURL: env.get("KASPERSKY_URL"), Token: ktoken, Tenants: splitList(env.get("KASPERSKY_TENANTS")),
			CAFile: env.get("KASPERSKY_CA_FILE"), Insecure: env.get("KASPERSKY_INSECURE") == "true",
			Logger: log.With("instance", "kaspersky"),
		}
		if kc.CAFile == "" && !kc.Insecure { // the driver builds its own TLS client for these
			kc.HTTPClient = client("kaspersky")
		}
		d, err := kaspersky.New(kc)
		if err != nil {
			return nil, err
		}
		out = append(out, &incidents.Instance{Name: "kaspersky", Driver: d, ReadOnly: env.get("KASPERSKY_READ_ONLY") == "true"})
	}
	key, err := env.secret("DLP_API_KEY")
	if err != nil {
		return nil, err
	}
	if key != "" || env.get("DLP_URL") != "" {
		d, err := dlp.New(dlp.Config{BaseURL: env.get("DLP_URL"), PathPrefix: env.get("DLP_PATH_PREFIX"), APIKey: key, Logger: log.With("instance", "dlp"), HTTPClient: client("dlp")})
		if err != nil {
			return nil, err
		}
		out = append(out, &incidents.Instance{Name: "dlp", Driver: d, ReadOnly: env.get("DLP_READ_ONLY") == "true"})
	}
	if len(out) == 0 {
		return nil, errors.New("no vendor configured: set ESET_*, KASPERSKY_* or DLP_* variables (see -help), or run with --demo to try the built-in simulators")
	}
	return out, nil
}
