package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/confirm"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
	"github.com/incident-mcp/incident-mcp/internal/wiring"
	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type options struct {
	demo            bool
	demoState       string
	readOnly        bool
	elicitationOnly bool
	auditLog        string
	logLevel        slog.Level
	httpAddr        string
	version         bool
	http            httpOptions
	configFile      string
	checkConfig     string
	approval        approvalFlags
	noApps          bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("incident-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.BoolVar(&o.demo, "demo", false, "serve the built-in demo: vendor simulators on loopback with a seeded dataset, no credentials")
	fs.StringVar(&o.demoState, "demo-state", "", "with --demo: keep the demo in this `DIR` between runs (the dataset's date anchor, the signing key, the writes made), so a second run sees the first run's changes")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error (logs go to stderr)")
	fs.StringVar(&o.httpAddr, "http", "", "serve streamable HTTP at `ADDR` (e.g. 127.0.0.1:8080) on /mcp instead of stdio")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.configFile, "config", "", "read the vendor instances from this YAML `FILE` instead of the environment (default $INCIDENT_MCP_CONFIG)")
	fs.StringVar(&o.checkConfig, "check-config", "", "validate the configuration `FILE`, print its instances and exit")
	fs.BoolVar(&o.readOnly, "read-only", false, "never write: update_incident is neither listed nor callable")
	fs.BoolVar(&o.elicitationOnly, "elicitation-only", false, "confirm writes only through the client's elicitation prompt: the same as --confirm-paths elicitation")
	fs.StringVar(&o.approval.confirmPaths, "confirm-paths", approval.DefaultPaths.String(), "how writes may be confirmed, comma-separated: elicitation (the client's form), approval (the approval page), token (a confirmation token the model relays)")
	fs.StringVar(&o.approval.viewApprovers, "view-approvers", "", "the callers who may approve or reject a pending change inside the change view of an MCP Apps host, comma-separated: NAME, group:NAME, scope:NAME or * (default: none; approvals happen on the approval page). Each also needs the approve right, and never approves their own change; see docs/mcp-apps.md for what this proves")
	fs.StringVar(&o.approval.elicitationBy, "elicitation-by", "", "over HTTP, the callers whose elicitation answer counts as a person's confirmation, comma-separated: NAME, group:NAME, scope:NAME or * (default: none; everyone else's writes go to the approval page). On stdio the local user's always counts")
	fs.IntVar(&o.approval.maxPending, "max-pending-approvals", confirm.DefaultMaxPending, "the most approval requests one caller may have waiting for a decision")
	fs.DurationVar(&o.approval.bulkBudget, "bulk-budget", confirm.DefaultBulkBudget, "how long one update_incident call applies the items of a bulk change before it hands back an operation to continue with")
	fs.StringVar(&o.approval.approvers, "approvers", "", "approvers of the approval page: a `FILE` of name:bcrypt-or-argon2id-hash lines (default $INCIDENT_MCP_APPROVERS_FILE; in --demo the demo approvers)")
	fs.StringVar(&o.approval.addr, "approval-addr", "127.0.0.1:0", "stdio mode: the loopback `ADDR` of the approval page's own listener")
	fs.StringVar(&o.approval.publicURL, "approval-url", "", "the `URL` under which users' browsers reach this server's approval page (default: from --http or --approval-addr)")
	fs.StringVar(&o.auditLog, "audit-log", "", "append every write to this JSON-lines `FILE` (default: $XDG_STATE_HOME/incident-mcp/audit.jsonl)")
	fs.BoolVar(&o.noApps, "no-apps", false, "offer no MCP Apps views (incident table, change diff): every client gets today's text results")
	o.http.register(fs)
	o.approval.oidc.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: incident-mcp [flags]\n       incident-mcp hash-password [NAME] < password   (a line for the --approvers file)\n\nAn MCP server for security incidents. Instances come from --config FILE or, one per vendor, from the environment:\n%s\nFlags:\n", envHelp())
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

func envHelp() string {
	return "  INCIDENT_MCP_CONFIG                            the configuration FILE when --config is not given (for launchers that eat flags)\n" +
		"  INCIDENT_MCP_SECRET, INCIDENT_MCP_SECRET_FILE  key that signs cursors (>= 32 bytes); random per process when unset\n" +
		"  INCIDENT_MCP_REDIS_URL, _FILE                  redis:// or rediss:// URL of the Redis replicas share (overrides redis_url)\n" +
		"  INCIDENT_MCP_REPLICAS                          replicas sharing the vendor limits; each keeps to 1/N while Redis is down (default 1);\n" +
		"                                                 above 1 with the approval page on, Redis is required (approvals live there)\n" +
		"  INCIDENT_MCP_APPROVER_OIDC_SECRET, _FILE       client secret of the approval page at --approver-oidc-issuer (empty: a public client, PKCE only)\n" +
		config.Table(registry.Settings()).EnvHelp()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "hash-password" {
		return hashPassword(args[1:], stdin, stdout)
	}
	args, reconcileOnly, err := auditCommand(args)
	if err != nil {
		return err
	}
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
	if o.configFile == "" && !o.demo {
		// For launchers that pass no flags (or swallow them).
		o.configFile = getenv("INCIDENT_MCP_CONFIG")
	}
	if o.http.probe != "" {
		return probe(o.http.probe)
	}
	if o.checkConfig != "" {
		return checkConfig(o.checkConfig, getenv, stdout)
	}
	log := newLogger(stderr, o.logLevel)
	env := envReader{getenv}

	secret, err := env.secret("INCIDENT_MCP_SECRET")
	if err != nil {
		return err
	}
	if o.demoState != "" && !o.demo {
		return errors.New("--demo-state keeps the demo's state: use it with --demo")
	}

	metrics := telemetry.NewMetrics()
	tp, stopTracing, err := telemetry.NewTracerProvider(ctx, getenv, version)
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	vendors := metrics.Vendors(tp)
	vendorOpts := []wiring.Option{wiring.WithHTTPClient(vendors.Client), wiring.WithObserver(vendors)}

	var (
		instances []*incidents.Instance
		shared    *redisstate.Store
		fileConf  *config.File
	)
	switch {
	case o.demo && o.configFile != "":
		return errors.New("--demo and --config exclude each other")
	case o.demo:
		// Building the datasets and their simulators takes a moment on a
		// small machine: say so before going quiet.
		log.Info("demo: starting the vendor simulators on loopback", "vendors", registry.Keys(), "incidents", demo.DefaultIncidents, "state", o.demoState)
		env, err := demo.Start(demo.Options{Logger: log, Build: vendorOpts, StateDir: o.demoState})
		if err != nil {
			return err
		}
		defer env.Close()
		log.Info("demo: vendor simulators serving on loopback", "urls", env.URLs, "dated_from", env.Now.Format(time.DateOnly), "replayed_writes", env.Replayed)
		if secret == "" && env.Secret != nil {
			secret = string(env.Secret) // kept in --demo-state, so tokens and cursors outlive the process
		}
		instances = env.Instances
		if err := readOnlyFromEnv(instances, getenv); err != nil {
			return err
		}
		if shared, err = openShared(envReader{getenv}, "", log); err != nil {
			return err
		}
	case o.configFile != "":
		f, err := config.Load(o.configFile, registry.Settings(), getenv)
		if err != nil {
			return err
		}
		if shared, err = openShared(env, f.RedisURL, log); err != nil {
			return err
		}
		if instances, err = wiring.Build(f, log, append(vendorOpts, wiring.WithSharedLimits(sharedLimits(shared)))...); err != nil {
			return err
		}
		fileConf = f
	default:
		if shared, err = openShared(env, "", log); err != nil {
			return err
		}
		if instances, err = instancesFromEnv(env, log, append(vendorOpts, wiring.WithSharedLimits(sharedLimits(shared)))...); err != nil {
			return err
		}
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
	svcOpts := []incidents.Option{}
	auditPath := ""
	if shared != nil {
		defer shared.Close()
		svcOpts = append(svcOpts, incidents.WithNonceStore(shared), incidents.WithLocker(shared))
	}
	if !o.readOnly {
		path := o.auditLog
		if path == "" && o.demoState != "" {
			path = filepath.Join(o.demoState, demo.AuditFile)
		}
		if path == "" && o.demo {
			// The demo writes to simulators that vanish with the process:
			// its audit belongs in a temporary file, not the user's state.
			dir, err := os.MkdirTemp("", "incident-mcp-demo-")
			if err != nil {
				return fmt.Errorf("demo audit log: %w", err)
			}
			defer os.RemoveAll(dir) // after the log is closed: defers run last first
			path = filepath.Join(dir, "audit.jsonl")
		}
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
		log.Info("writes are audited", "path", path, "demo", o.demo)
		auditPath = path
		svcOpts = append(svcOpts, incidents.WithAudit(auditLog))
	}
	if fileConf != nil && fileConf.Access != nil {
		svcOpts = append(svcOpts, incidents.WithAccess(fileConf.Access))
		log.Info("access rules in force: each caller sees and changes only what the config's access section grants it")
		if o.httpAddr != "" && o.http.tokensFile == "" && o.http.oauthIssuer == "" {
			log.Warn("access rules name principals, but HTTP callers are not authenticated: every caller is anonymous and only rules for * apply; set --http-tokens-file or --oauth-issuer")
		}
	}
	svc, err := incidents.New(instances, sealer, log, svcOpts...)
	if err != nil {
		return err
	}
	if auditPath != "" {
		verdicts, err := reconcileAudit(ctx, svc, auditPath, metrics, log)
		if reconcileOnly {
			return cmpErr(err, printVerdicts(stdout, verdicts))
		}
		if err != nil {
			log.Error("interrupted writes not reconciled", "err", err)
		}
	} else if reconcileOnly {
		return errors.New("audit reconcile: the audit log is not written in --read-only mode; leave --read-only out")
	}
	policy, err := o.policy()
	if err != nil {
		return err
	}
	if fileConf != nil {
		if policy, err = withConfig(policy, o.configFile, fileConf.Confirm, instances); err != nil {
			return err
		}
	}
	if len(policy.ViewApprovers) > 0 {
		log.Info("approvals in the change view of MCP Apps hosts are open to the named principals with the approve right", "view_approvers", policy.ViewApprovers)
		if slices.Contains(policy.ViewApprovers, "*") {
			log.Warn("view approvers include *: any authenticated caller with the approve right can approve from an MCP client, which its host may let the model drive; name the approvers instead")
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var approvals approval.Store = approval.NewMemStore()
	if shared != nil {
		approvals = shared.Approvals()
	}
	page, err := approvalPage(ctx, o, policy, env, approvals, svc.Access(), log)
	if err != nil {
		return err
	}
	if err := checkReplicas(env, shared, page); err != nil {
		return err
	}
	mcpServer := tools.NewServer(svc, version, log, tools.Options{ReadOnly: o.readOnly, Update: tools.UpdateOptions{Policy: policy, Approval: page, MaxPending: o.approval.maxPending, BulkBudget: o.approval.bulkBudget},
		Apps: !o.noApps, PrivateLists: o.http.authenticates()})
	for _, in := range instances {
		metrics.Health().Register(in.Name)
	}

	if o.httpAddr != "" {
		cfg, err := o.http.httpConfig(o.httpAddr, mcpServer, metrics, log)
		if err != nil {
			return err
		}
		if page != nil {
			// The approval page authenticates its approvers itself.
			cfg.Routes = page.Register
			cfg.AllowedHosts = withApprovalHost(cfg.AllowedHosts, o.httpAddr, page.URL(""))
		}
		if shared != nil {
			cfg.Sessions = shared.Sessions()
			if o.http.callRate > 0 {
				cfg.CallLimiter = newRedisCalls(shared, o.http.callRate)
			}
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
	// Every stdio request is the local user's, who started this process.
	local := caller.Local(localUser(getenv))
	stdio := server.NewStdioServer(mcpServer)
	server.WithStdioContextFunc(func(ctx context.Context) context.Context { return caller.With(ctx, local) })(stdio)
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
	return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: noColor}))
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

// instancesFromEnv builds the instances the environment configures.
func instancesFromEnv(env envReader, log *slog.Logger, opts ...wiring.Option) ([]*incidents.Instance, error) {
	f, err := config.FromEnv(registry.Settings(), env.get)
	if err != nil {
		return nil, err
	}
	if len(f.Instances) == 0 {
		return nil, fmt.Errorf("no vendor configured: use --config FILE, set %s variables (see -help), or run with --demo to try the built-in simulators", envPrefixes())
	}
	return wiring.Build(f, log, opts...)
}

// envPrefixes names every vendor's variables: "ESET_*, KASPERSKY_* or DLP_*".
func envPrefixes() string {
	keys := registry.Keys()
	for i, k := range keys {
		keys[i] = strings.ToUpper(k) + "_*"
	}
	if len(keys) < 2 {
		return strings.Join(keys, "")
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " or " + keys[len(keys)-1]
}

// checkConfig validates a configuration file, builds every driver (no
// network I/O) and prints the instances without their secrets.
func checkConfig(path string, getenv func(string) string, stdout io.Writer) error {
	f, err := config.Load(path, registry.Settings(), getenv)
	if err != nil {
		return err
	}
	instances, err := wiring.Build(f, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if _, err := withConfig(&approval.Policy{Rule: approval.Rule{Paths: approval.DefaultPaths}}, path, f.Confirm, instances); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d instance(s)\n", path, len(f.Instances))
	for _, in := range f.Instances {
		mode := "read-write"
		if in.ReadOnly {
			mode = "read-only"
		}
		fmt.Fprintf(stdout, "- %s (%s, %s, line %d): %s\n", in.Name, in.Vendor, mode, in.Line, strings.Join(in.Settings.Summary(), "; "))
	}
	if f.RedisURL != "" {
		fmt.Fprintln(stdout, "redis_url is set: replicas share confirmations, write locks and vendor limits")
	}
	return f.Access.WriteTable(stdout)
}

// readOnlyFromEnv applies <INSTANCE>_READ_ONLY to the demo's instances, as
// the environment does for a real deployment.
func readOnlyFromEnv(instances []*incidents.Instance, getenv func(string) string) error {
	for _, in := range instances {
		ro, err := settings.Env{Get: getenv}.ReadOnly(in.Name)
		if err != nil {
			return err
		}
		in.ReadOnly = in.ReadOnly || ro
	}
	return nil
}

// localUser is the name of the OS user running a stdio server.
func localUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return getenv("USER")
}
