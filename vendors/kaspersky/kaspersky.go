// Package kaspersky is the driver for the incidents REST API of Kaspersky
// Next XDR Expert (Open Single Management Platform). Its one job is to turn
// the portable service's plans into that API's requests and its records into
// schema.Incident: a static bearer token and an on-premises CA, tenants
// configured or discovered, the list's query parameters (repeated status, id
// and tenantID, an escaped PCRE `name`, one timestamp window, fixed pages of
// 100), get through the list's `id=`, and closing with a resolution.
package kaspersky

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// Vendor is this driver's vendor key.
const Vendor = "kaspersky"

// Config configures one Kaspersky Next XDR Expert console.
type Config struct {
	// BaseURL is the API's address, e.g. "https://api.xdr.example.com"; a
	// trailing "/xdr/api/v1" is accepted too.
	BaseURL string
	// Token is the API token made in the console (no refresh; it lives up
	// to a year).
	Token string
	// Tenants are the tenant IDs to read. Empty means every tenant the
	// token can read, discovered once with GET /xdr/api/v1/tenants.
	Tenants []string
	// CAFile is a PEM file of CA certificates to trust besides the system
	// ones: consoles are usually on premises with their own CA.
	CAFile string
	// Insecure turns TLS certificate verification off. It is logged loudly:
	// anyone on the path can then read the token.
	Insecure bool
	// Limiter paces requests (a shared limiter across replicas); nil means
	// none, as Kaspersky documents no rate limit.
	Limiter driver.Limiter
	// Common: Instance defaults to "kaspersky"; HTTPClient replaces the
	// driver's own client (60 s timeout, CAFile), and CAFile and Insecure
	// cannot be combined with it; time windows are weighed against Now.
	descriptor.Common
}

// tenant is one readable tenant; Name is known only when discovered.
type tenant struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

var _ driver.Driver = (*Driver)(nil)

// Driver implements driver.Driver for Kaspersky Next XDR Expert.
type Driver struct {
	c   *client
	now func() time.Time
	log *slog.Logger

	// tenants is the readable tenants: set by New when configured, else on
	// first use. discover admits one discovery at a time, so concurrent
	// first calls make one request; a failed discovery is retried later.
	tenants  atomic.Pointer[[]tenant]
	discover chan struct{}
}

// New returns a driver for cfg. It makes no network call; a CA file is read
// here so that a wrong path fails at start.
func New(cfg Config) (*Driver, error) {
	cfg.Token = strings.TrimSpace(cfg.Token)
	if cfg.Token == "" {
		return nil, errNoToken
	}
	if strings.ContainsFunc(cfg.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("kaspersky: the API token contains spaces or control characters; check how it was copied")
	}
	base, err := baseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	cfg.Common = cfg.WithDefaults(Vendor)
	hc, err := httpClient(cfg, base)
	if err != nil {
		return nil, err
	}
	c := &client{baseURL: base.String(), token: cfg.Token, log: cfg.Logger, sleep: cfg.Sleep}
	layer := cfg.Common
	layer.HTTPClient = hc
	layer.Sleep = func(ctx context.Context, d time.Duration) error { return c.sleep(ctx, d) } // tests replace c.sleep
	c.hc = httpx.New(httpx.Config{Common: layer, Limiter: cfg.Limiter, Policy: httpx.Policy{Retry429: true, BaseBackoff: 200 * time.Millisecond}})
	d := &Driver{
		c:        c,
		now:      cfg.Now,
		log:      cfg.Logger,
		discover: make(chan struct{}, 1),
	}
	if len(cfg.Tenants) > 0 {
		var ts []tenant
		for _, id := range cfg.Tenants {
			id = strings.TrimSpace(id)
			if id == "" {
				return nil, errors.New("kaspersky: empty tenant ID in the tenant list")
			}
			if !slices.ContainsFunc(ts, func(t tenant) bool { return t.ID == id }) {
				ts = append(ts, tenant{ID: id})
			}
		}
		d.tenants.Store(&ts)
	}
	return d, nil
}

func baseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("kaspersky: base URL %q: want https://<api host>, e.g. https://api.xdr.example.com", s)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/xdr/api/v1")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// httpClient builds the driver's client: TLS 1.2 or later, the system roots
// plus CAFile, verification off only when Insecure says so.
func httpClient(cfg Config, base *url.URL) (*http.Client, error) {
	if cfg.HTTPClient != nil {
		if cfg.CAFile != "" || cfg.Insecure {
			return nil, errors.New("kaspersky: CAFile and Insecure configure the driver's own HTTP client; with a custom HTTPClient set them on its transport")
		}
		return cfg.HTTPClient, nil
	}
	if cfg.CAFile != "" && cfg.Insecure {
		return nil, errors.New("kaspersky: set CAFile or Insecure, not both")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kaspersky: read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kaspersky: CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.Insecure {
		tc.InsecureSkipVerify = true
		cfg.Logger.Warn("KASPERSKY TLS CERTIFICATE VERIFICATION IS OFF: anyone on the network path can impersonate the console and read the API token; configure a CA file instead",
			"base_url", base.String())
	}
	if base.Scheme == "http" && !loopback(base.Hostname()) {
		cfg.Logger.Warn("kaspersky base URL is plain http: the API token crosses the network unencrypted", "base_url", base.String())
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Timeout: 60 * time.Second, Transport: tr}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Info implements driver.Driver.
func (d *Driver) Info() driver.Info {
	var sorts []schema.Order
	if assumeNewestFirst {
		sorts = []schema.Order{{Key: schema.OrderCreatedAt, Desc: true}}
	}
	return driver.Info{
		Vendor:      Vendor,
		MaxPageSize: PageSize,
		// Lists ask for assets whenever a filter reads devices or users, so
		// nothing a filter reads needs a full read.
		ListOmits: nil,
		Sorts:     sorts,
		Updates:   []schema.PatchField{schema.PatchClose, schema.PatchResolution},
		Write:     writeInfo,
		Sections:  sections,
		Notes: []string{
			"filters sent to Kaspersky: status, ids, tenant, title_contains, one created or updated window; severity, assignee, devices and users are checked locally",
			"severities: low, medium, high, critical (no informational); statuses: open, in_progress, on_hold, closed (no resolved)",
			"tenant is a Kaspersky tenant ID; an instance reads its configured tenants or every tenant its token can read",
			"no tags or policies on incidents",
			"updates: only close with resolution true_positive, false_positive or low_priority; no reopen, comments, assignee or other edits",
		},
	}
}

// listPlan is the request a plan carries to List.
type listPlan struct {
	req NativeRequest
	// checkTenant is the tenant the criteria named when the readable tenants
	// were not yet known at Plan time; List checks it once they are.
	checkTenant string
}

// Plan implements driver.Driver. It makes no call: when the tenants are
// still to be discovered, List fills them in.
func (d *Driver) Plan(q driver.Query) (*driver.Plan, error) {
	t := translate(q.Criteria, q.Fields, d.now())
	lp := &listPlan{req: t.req}
	plan := &driver.Plan{Native: lp.req, Skip: t.skip, Exact: t.exact, PageSize: PageSize, Request: lp}
	if t.skip {
		plan.SkipReason = driver.Unsatisfiable("Kaspersky", q.Criteria, func(arg string) bool { return arg != "tags" && arg != "policy_ids" },
			kasperskySeverities, slices.Collect(maps.Keys(statusToFilter)))
		return plan, nil
	}
	known := d.tenants.Load()
	switch tn := q.Criteria.Tenant; {
	case tn != "" && known != nil:
		if err := checkTenant(tn, *known); err != nil {
			return nil, err
		}
		lp.req.TenantID = []string{tn}
	case tn != "":
		lp.req.TenantID = []string{tn}
		lp.checkTenant = tn
	case known != nil:
		lp.req.TenantID = tenantIDs(*known)
	default:
		lp.req.Tenants = "every tenant the token can read (discovered with GET " + pathTenants + " on first use)"
	}
	if q.Criteria.Tenant != "" {
		t.pushed = append(t.pushed, "tenant")
	}
	plan.Native, plan.Pushed = lp.req, t.pushed
	plan.Sorted, plan.Order = orderOf(lp.req.TimestampField, q.Order)
	return plan, nil
}

// checkTenant refuses a tenant this instance cannot read. An error, not an
// empty result: "no incidents" would be a false answer about a tenant the
// token cannot see, and a model that passed a name instead of an ID learns
// the IDs to use.
func checkTenant(id string, readable []tenant) error {
	if slices.ContainsFunc(readable, func(t tenant) bool { return t.ID == id }) {
		return nil
	}
	names := make([]string, len(readable))
	for i, t := range readable {
		names[i] = strconv.Quote(t.ID)
		if t.Name != "" {
			names[i] += " (" + t.Name + ")"
		}
	}
	return schema.ArgError("tenant", "%q is not a tenant this Kaspersky instance reads; use a tenant ID of %s", id, strings.Join(names, ", "))
}

func tenantIDs(ts []tenant) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

// readableTenants returns the configured tenants, or discovers the readable
// ones once.
func (d *Driver) readableTenants(ctx context.Context) ([]tenant, error) {
	if ts := d.tenants.Load(); ts != nil {
		return *ts, nil
	}
	select {
	case d.discover <- struct{}{}:
		defer func() { <-d.discover }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if ts := d.tenants.Load(); ts != nil { // found while this call waited
		return *ts, nil
	}
	resp, err := d.c.do(ctx, http.MethodGet, pathTenants, nil, nil)
	if err != nil {
		return nil, err
	}
	var ts []tenant
	if err := json.Unmarshal(resp.body, &ts); err != nil {
		return nil, fmt.Errorf("kaspersky tenants: decode response: %w", err)
	}
	ts = slices.DeleteFunc(ts, func(t tenant) bool { return t.ID == "" })
	if len(ts) == 0 {
		return nil, schema.Errorf(schema.CodePermissionDenied, "the Kaspersky API token can read no tenant: give its user the read right for alerts and incidents in a tenant, or configure the tenant IDs")
	}
	d.log.Info("kaspersky tenants discovered", "count", len(ts))
	d.tenants.Store(&ts)
	return ts, nil
}

// List implements driver.Driver. Positions are page numbers from 1.
func (d *Driver) List(ctx context.Context, plan *driver.Plan, pos string) (*driver.Page, error) {
	return d.ListPrefix(ctx, plan, pos, 0)
}

var _ driver.PrefixLister = (*Driver)(nil)

// ListPrefix implements driver.PrefixLister: Kaspersky's pages are always
// 100 records, and decoding them was most of a call's CPU when the call
// needed 21.
func (d *Driver) ListPrefix(ctx context.Context, plan *driver.Plan, pos string, n int) (*driver.Page, error) {
	lp, ok := plan.Request.(*listPlan)
	if !ok {
		return nil, errors.New("kaspersky: plan from another driver")
	}
	page := 1
	if pos != "" {
		n, err := strconv.Atoi(pos)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("kaspersky: position %q is not a page number", pos)
		}
		page = n
	}
	tenants := lp.req.TenantID
	if len(tenants) == 0 || lp.checkTenant != "" {
		ts, err := d.readableTenants(ctx)
		if err != nil {
			return nil, err
		}
		if lp.checkTenant != "" {
			if err := checkTenant(lp.checkTenant, ts); err != nil {
				return nil, err
			}
		} else {
			tenants = tenantIDs(ts)
		}
	}
	resp, err := d.c.do(ctx, http.MethodGet, pathIncidents, lp.req.query(tenants, page), nil)
	if err != nil {
		return nil, err
	}
	var lr listResponse
	before := (page - 1) * PageSize
	// Kaspersky sends Total before the records: with the records needed in
	// hand, Total says how many more the page holds, and the rest of the
	// body need not be parsed.
	enough := func(decoded int) bool { return lr.Total != nil && *lr.Total >= before+decoded }
	prefix, err := wire.DecodePrefix[wireIncident](resp.body, "Incidents", n, &lr, enough)
	if err != nil {
		return nil, fmt.Errorf("kaspersky list: decode response: %w", err)
	}
	if prefix.Unread < 0 {
		prefix.Unread = min(PageSize, *lr.Total-before) - len(prefix.Records)
	}
	// The records left undecoded are read from the body: it is given back
	// only when the page is done with.
	out := &driver.Page{RequestID: resp.requestID, RawBytes: len(resp.body), Done: resp.release}
	wire.FillPage(out, prefix, normalize, func(err error) error { return fmt.Errorf("kaspersky list: decode response: %w", err) })
	// A short page is the last; so is one that reaches Total, which spares
	// an empty request when Total is a multiple of 100. A Total that is
	// missing or smaller than what was served is not trusted: paging then
	// goes on while pages are full, rather than stopping early.
	served := len(prefix.Records) + prefix.Unread
	full := served >= PageSize
	if lr.Total != nil && *lr.Total >= before+served {
		out.Total, out.TotalKnown = *lr.Total, true
		full = full && page*PageSize < *lr.Total
	} else if lr.Total != nil {
		out.Warnings = append(out.Warnings, fmt.Sprintf("Kaspersky reported Total %d but served more on page %d; the total is unknown", *lr.Total, page))
	}
	if full {
		out.Next = strconv.Itoa(page + 1)
	}
	return out, nil
}

// idShape is Kaspersky's incident id: the record's InternalID, a UUID (the
// list's id= takes nothing else), not the short Name number.
var idShape = wire.IDShape{Vendor: "Kaspersky", Describe: "UUIDs, not the short incident number", Valid: wire.IsUUID}

// Get implements driver.Driver. Kaspersky has no get-one call: the list with
// id= over every readable tenant, with assets and history, stands in.
func (d *Driver) Get(ctx context.Context, nativeID string) (*schema.Incident, error) {
	raw, w, err := d.fetch(ctx, nativeID, true)
	if err != nil {
		return nil, err
	}
	inc := normalize(w)
	if inc.Details, err = details(raw); err != nil {
		return nil, fmt.Errorf("kaspersky get: decode details: %w", err)
	}
	inc.Raw = raw
	return &inc, nil
}

// fetch reads one incident's record; full adds assets and history.
func (d *Driver) fetch(ctx context.Context, nativeID string, full bool) (json.RawMessage, *wireIncident, error) {
	if err := idShape.Check(nativeID); err != nil {
		return nil, nil, err
	}
	ts, err := d.readableTenants(ctx)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{"id": {nativeID}, "tenantID": tenantIDs(ts), "page": {"1"}}
	if full {
		q.Set("withAffected", flagValue)
		q.Set("withHistory", flagValue)
	}
	resp, err := d.c.do(ctx, http.MethodGet, pathIncidents, q, nil)
	if err != nil {
		return nil, nil, err
	}
	var lr struct {
		Incidents []json.RawMessage `json:"Incidents"`
	}
	if err := json.Unmarshal(resp.body, &lr); err != nil {
		return nil, nil, fmt.Errorf("kaspersky get: decode response: %w", err)
	}
	for _, raw := range lr.Incidents {
		var w wireIncident
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, nil, fmt.Errorf("kaspersky get: decode incident: %w", err)
		}
		if strings.EqualFold(w.InternalID, nativeID) {
			return raw, &w, nil
		}
	}
	return nil, nil, schema.Errorf(schema.CodeNotFound, "Kaspersky has no incident %s in the %d tenant(s) this instance reads", nativeID, len(ts))
}

// ErrorCode implements driver.Driver.
func (d *Driver) ErrorCode(err error) schema.Code {
	if he, ok := errors.AsType[*driver.HTTPError](err); ok && authHeaderRejected(he) {
		return schema.CodeUnauthenticated
	}
	return driver.CodeOf(err)
}
