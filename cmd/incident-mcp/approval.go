package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/httpserve"
	"github.com/incident-mcp/incident-mcp/internal/redisstate"
)

// approvalFlags are the flags of the approval page and the confirm-path
// policy.
type approvalFlags struct {
	confirmPaths string
	// elicitationBy: selectors of the principals whose elicitation counts.
	elicitationBy string
	// viewApprovers: selectors of the principals who may decide in the
	// change view of an MCP Apps host.
	viewApprovers string
	maxPending    int
	bulkBudget    time.Duration
	approvers     string
	addr          string
	publicURL     string
	oidc          approverOIDCFlags
}

// approverOIDCFlags let approvers sign in with the organisation's IdP.
type approverOIDCFlags struct {
	issuer, clientID, groups, nameClaim, groupsClaim string
}

func (f *approverOIDCFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.issuer, "approver-oidc-issuer", "", "approvers sign in on the approval page with this OpenID Connect issuer `URL` (code flow with PKCE; client secret in $INCIDENT_MCP_APPROVER_OIDC_SECRET or _FILE)")
	fs.StringVar(&f.clientID, "approver-oidc-client-id", "", "the approval page's client `ID` at the OIDC issuer (redirect URI: <approval URL>/approval/oidc/callback)")
	fs.StringVar(&f.groups, "approver-oidc-groups", "", "comma-separated `groups` whose members may approve (\"*\": every user of the issuer); required with --approver-oidc-issuer")
	fs.StringVar(&f.nameClaim, "approver-oidc-name-claim", "sub", "the ID token `claim` naming the approver in the audit (sub, email, preferred_username)")
	fs.StringVar(&f.groupsClaim, "approver-oidc-groups-claim", "groups", "the ID token `claim` listing the user's groups")
}

// config is the page's OIDC configuration, nil when not asked for.
func (f *approverOIDCFlags) config(env envReader, allowHTTP bool) (*approval.OIDCConfig, error) {
	if f.issuer == "" {
		if f.clientID != "" || f.groups != "" {
			return nil, errors.New("--approver-oidc-client-id and --approver-oidc-groups need --approver-oidc-issuer")
		}
		return nil, nil
	}
	if err := httpserve.CheckSecureURL(f.issuer, allowHTTP); err != nil {
		return nil, fmt.Errorf("--approver-oidc-issuer: %w", err)
	}
	if f.clientID == "" || f.groups == "" {
		return nil, errors.New("--approver-oidc-issuer needs --approver-oidc-client-id and --approver-oidc-groups")
	}
	secret, err := env.secret("INCIDENT_MCP_APPROVER_OIDC_SECRET")
	if err != nil {
		return nil, err
	}
	return &approval.OIDCConfig{Issuer: f.issuer, ClientID: f.clientID, ClientSecret: secret,
		AllowedGroups: commaList(f.groups), NameClaim: f.nameClaim, GroupsClaim: f.groupsClaim}, nil
}

// policy is the server-wide confirm-path policy from the flags.
func (o *options) policy() (*approval.Policy, error) {
	spec := o.approval.confirmPaths
	if o.elicitationOnly {
		if spec != approval.DefaultPaths.String() && spec != string(approval.PathElicitation) {
			return nil, errors.New("--elicitation-only and --confirm-paths contradict each other; --elicitation-only is --confirm-paths elicitation")
		}
		spec = string(approval.PathElicitation)
	}
	paths, err := approval.ParsePaths(spec)
	if err != nil {
		return nil, fmt.Errorf("--confirm-paths: %w", err)
	}
	pol := &approval.Policy{Rule: approval.Rule{Paths: paths}}
	for _, sel := range strings.Split(o.approval.elicitationBy, ",") {
		if sel = strings.TrimSpace(sel); sel != "" {
			pol.ElicitationBy = append(pol.ElicitationBy, sel)
		}
	}
	for _, sel := range strings.Split(o.approval.viewApprovers, ",") {
		if sel = strings.TrimSpace(sel); sel != "" {
			pol.ViewApprovers = append(pol.ViewApprovers, sel)
		}
	}
	if err := pol.Validate(); err != nil {
		return nil, fmt.Errorf("--elicitation-by, --view-approvers: %w", err)
	}
	return pol, nil
}

// withConfig lays the config file's `confirm:` section over the policy of
// the flags: the file's own server-wide paths, when set, replace the flag's.
// Unknown keys and instances that are not configured are refused, naming
// the file and line.
func withConfig(pol *approval.Policy, path string, section *yaml.Node, instances []*incidents.Instance) (*approval.Policy, error) {
	if section == nil {
		return pol, nil
	}
	raw, err := yaml.Marshal(section)
	if err != nil {
		return nil, fmt.Errorf("%s: confirm: %w", path, err)
	}
	var fromFile approval.Policy
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fromFile); err != nil {
		return nil, fmt.Errorf("%s:%d: confirm: %s", path, section.Line, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(fromFile.Paths) == 0 {
		fromFile.Paths = pol.Paths
	}
	if fromFile.Approvers == 0 {
		fromFile.Approvers = pol.Approvers
	}
	if len(fromFile.ElicitationBy) == 0 {
		fromFile.ElicitationBy = pol.ElicitationBy
	}
	if len(fromFile.ViewApprovers) == 0 {
		fromFile.ViewApprovers = pol.ViewApprovers
	}
	for name := range fromFile.Instances {
		if !slices.ContainsFunc(instances, func(in *incidents.Instance) bool { return in.Name == name }) {
			return nil, fmt.Errorf("%s:%d: confirm.instances.%s: no such instance in this file", path, section.Line, name)
		}
	}
	if err := fromFile.Validate(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, section.Line, err)
	}
	return &fromFile, nil
}

// approvers are the people who may approve on the page: the --approvers
// file, else in --demo the documented demo approvers, else none.
func (o *options) approvers(env envReader) (approval.Approvers, error) {
	path := o.approval.approvers
	if path == "" {
		path = env.get("INCIDENT_MCP_APPROVERS_FILE")
	}
	switch {
	case path != "":
		return approval.LoadApprovers(path)
	case o.demo:
		return approval.DemoApprovers(), nil
	}
	return nil, nil
}

// approvalPage builds the approval page, or nil when the policy never asks
// for it or nobody could approve. In stdio mode it also opens the loopback
// listener the page needs, closed when ctx ends.
func approvalPage(ctx context.Context, o *options, pol *approval.Policy, env envReader, store approval.Store, rules *access.Policy, log *slog.Logger) (*approval.Page, error) {
	if o.readOnly || !pol.Uses(approval.PathApproval) {
		return nil, nil
	}
	who, err := o.approvers(env)
	if err != nil {
		return nil, err
	}
	sso, err := o.approval.oidc.config(env, o.http.allowInsecure)
	if err != nil {
		return nil, err
	}
	if who == nil && sso == nil {
		log.Warn("no approvers configured (--approvers FILE): the approval page is off, so clients without form elicitation cannot confirm writes")
		return nil, nil
	}
	if o.demo && o.approval.approvers == "" {
		log.Warn("demo: approve on the approval page as " + approval.DemoApprover + " (or " + approval.DemoSecondApprover + ") with password " + approval.DemoPassword)
	}
	if o.approval.publicURL != "" {
		if err := httpserve.CheckSecureURL(o.approval.publicURL, o.http.allowInsecure); err != nil {
			return nil, fmt.Errorf("--approval-url: %w", err)
		}
	}
	cfg := approval.Config{Store: store, Approvers: who, OIDC: sso, Logger: log.With("part", "approval"), BaseURL: o.approval.publicURL}
	if sessions, ok := store.(approval.SessionStore); ok {
		// The shared store (Redis) keeps the approvers' sessions too: an
		// approver signed in on one replica is signed in on all of them.
		cfg.Sessions = sessions
	}
	if throttle, ok := store.(approval.SignInThrottle); ok {
		// And the failed sign-ins: the backoff holds across replicas.
		cfg.Throttle = throttle
	}
	if rules != nil {
		cfg.MayApprove = rules.MayApprove
	}
	if o.httpAddr != "" {
		if cfg.BaseURL == "" {
			if cfg.BaseURL, err = loopbackURL(o.httpAddr); err != nil {
				return nil, fmt.Errorf("--approval-url is needed: %w", err)
			}
		}
		cfg.Secure = strings.HasPrefix(cfg.BaseURL, "https://")
		return approval.NewPage(cfg)
	}
	// stdio: a listener of its own, on loopback only; the browser runs on
	// the same machine as the client that started this process.
	if _, err := loopbackURL(o.approval.addr); err != nil {
		return nil, fmt.Errorf("--approval-addr: %w", err)
	}
	ln, err := net.Listen("tcp", o.approval.addr)
	if err != nil {
		return nil, fmt.Errorf("approval page: %w", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	page, err := approval.NewPage(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The page's own listener gets the Host allow-list too (DNS rebinding).
	guarded := httpserve.HostGuard(withApprovalHost(nil, o.approval.addr, cfg.BaseURL), page.Handler())
	srv := &http.Server{Handler: guarded, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		// ctx is done here: the shutdown needs a deadline of its own.
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("approval page on loopback", "url", cfg.BaseURL+"/approve/")
	return page, nil
}

// loopbackURL is the http URL of a loopback listen address.
func loopbackURL(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("%s is not a loopback address", addr)
	}
	return "http://" + addr, nil
}

// checkReplicas refuses replicas without Redis while the approval page is
// on: a request created on one replica would be unknown to the others, so
// approvers would get 404 and callers "no approval request" at random.
func checkReplicas(env envReader, shared *redisstate.Store, page *approval.Page) error {
	if shared != nil || page == nil {
		return nil
	}
	s := env.get("INCIDENT_MCP_REPLICAS")
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("INCIDENT_MCP_REPLICAS=%q: want the number of replicas, at least 1", s)
	}
	if n > 1 {
		return fmt.Errorf("INCIDENT_MCP_REPLICAS=%d without Redis: approval requests would live in one replica only; set INCIDENT_MCP_REDIS_URL so replicas share them, or turn the approval page off (--confirm-paths without approval, or no --approvers)", n)
	}
	return nil
}

// withApprovalHost adds the approval page's host to the Host allow-list of
// a loopback listener that has none, so a page reached through a proxy
// under its public name still answers; an explicit list is the operator's.
func withApprovalHost(hosts []string, addr, pageURL string) []string {
	if len(hosts) > 0 || !httpserve.IsLoopbackAddr(addr) {
		return hosts
	}
	u, err := url.Parse(pageURL)
	if err != nil || u.Hostname() == "" {
		return hosts
	}
	h := u.Hostname()
	loop := []string{"localhost", "127.0.0.1", "::1", "[::1]"}
	if slices.Contains(loop, h) {
		return hosts
	}
	return append(loop, h)
}
