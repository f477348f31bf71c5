// Package dlp is the driver for the Cyberhaven DLP API v2: it lists, reads
// and updates incidents through the "List Incidents Enhanced" filter object
// (POST {prefix}/incidents/list) and PATCH {prefix}/incidents/{id}, signs in
// by exchanging an API key for 15-minute tokens, and keeps every call of an
// instance within the vendor's 60 requests per minute and 5 at once.
package dlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// Vendor is this driver's vendor key.
const Vendor = "dlp"

// The vendor's documented values, the defaults of Config.
const (
	DefaultPathPrefix    = "/v2"
	DefaultRateLimit     = 60
	DefaultRateWindow    = time.Minute
	DefaultMaxConcurrent = 5
	// MaxPageSize is the largest page_size the list takes.
	MaxPageSize = 100
)

// Config configures one Cyberhaven tenant.
type Config struct {
	// BaseURL is the tenant's address, e.g. https://<tenant>.cyberhaven.io.
	BaseURL string
	// PathPrefix is "/v2" (the docs) when empty; working integrations use
	// "/public/v2".
	PathPrefix string
	// APIKey is exchanged for access tokens; it is never logged.
	APIKey string
	// RateLimit requests per RateWindow, shared by every call of the
	// instance, token exchanges included: 0 means the vendor's 60 per
	// minute. Tests shrink the window instead of waiting minutes.
	RateLimit  int
	RateWindow time.Duration
	// MaxConcurrent bounds the requests in flight: 0 means the vendor's 5.
	MaxConcurrent int
	// Limiter and Semaphore replace the local rate schedule and the local
	// bound on requests in flight (shared ones across replicas). The pause
	// after a 429 that spent the vendor's window applies either way.
	Limiter   driver.Limiter
	Semaphore driver.Semaphore
	// Common: Instance defaults to "dlp"; HTTPClient to one with a 60 s
	// timeout that keeps a connection per concurrent request.
	descriptor.Common
}

var _ driver.Driver = (*Driver)(nil)

// Driver implements driver.Driver for Cyberhaven DLP.
type Driver struct {
	c *client
}

var errNotConfigured = errors.New("dlp: a base URL (https://<tenant>.cyberhaven.io) and an API key are required")

// New returns a driver for cfg. It does no I/O: the key is first exchanged
// on the first call.
func New(cfg Config) (*Driver, error) {
	if cfg.BaseURL == "" || cfg.APIKey == "" {
		return nil, errNotConfigured
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("dlp: base URL %q must be an http(s) URL such as https://<tenant>.cyberhaven.io", cfg.BaseURL)
	}
	prefix := "/" + strings.Trim(cfg.PathPrefix, "/")
	if prefix == "/" {
		prefix = DefaultPathPrefix
	}
	if cfg.RateLimit < 0 || cfg.RateWindow < 0 || cfg.MaxConcurrent < 0 {
		return nil, errors.New("dlp: rate limit, window and concurrency must not be negative")
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Keep-alive for every slot: the default keeps two idle
		// connections per host and would reconnect for the other three.
		tr.MaxIdleConnsPerHost = cfg.MaxConcurrent
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second, Transport: tr}
	}
	cfg.Common = cfg.WithDefaults(Vendor)
	c := &client{
		baseURL: strings.TrimRight(cfg.BaseURL, "/"), prefix: prefix, apiKey: cfg.APIKey,
		log: cfg.Logger, now: cfg.Now, sleep: cfg.Sleep,
		rateLimit: cfg.RateLimit, rateWindow: cfg.RateWindow, maxConcurrent: cfg.MaxConcurrent,
		shared:     cfg.Limiter,
		limiter:    newLimiter(cfg.RateLimit, cfg.RateWindow),
		exchanging: make(chan struct{}, 1),
	}
	c.slot = time.Duration(float64(time.Second) / float64(c.limiter.Limit()))
	sem := cfg.Semaphore
	if sem == nil {
		sem = make(semaphore, cfg.MaxConcurrent)
	}
	c.hc = httpx.New(httpx.Config{
		Common: cfg.Common, Limiter: schedule{c}, Semaphore: sem,
		Policy: httpx.Policy{MaxAttempts: maxAttempts, BaseBackoff: baseBackoff},
	})
	return &Driver{c: c}, nil
}

// Info implements driver.Driver.
func (d *Driver) Info() driver.Info {
	return driver.Info{
		Vendor:      Vendor,
		MaxPageSize: MaxPageSize,
		ListOmits:   listOmits,
		Sorts: []schema.Order{
			{Key: schema.OrderCreatedAt, Desc: true}, {Key: schema.OrderCreatedAt},
			{Key: schema.OrderSeverity, Desc: true}, {Key: schema.OrderSeverity},
		},
		Updates:  updates,
		Write:    writeInfo,
		Sections: sections,
		Notes: []string{
			"statuses: open, in_progress (DLP \"investigating\"), resolved, closed; none is on_hold",
			"each incident has one policy, one device (endpoint) and one user; no tenant",
			"no sort by updated_at: such lists come in created_at order, same direction (updated_at desc: newest-created first; updated_at asc: oldest-created first)",
			"title_contains, assignee and updated_* are checked after the vendor's filter, so narrow lists by severity, status, time, tags or ids",
			fmt.Sprintf("the API allows %d requests per %s and %d at once: a long scan reads about one page per %s; use page_size 100 and narrow filters",
				d.c.rateLimit, d.c.rateWindow, d.c.maxConcurrent, (d.c.rateWindow / time.Duration(d.c.rateLimit)).Round(time.Millisecond)),
			"updates: status open or closed only; closing needs a resolution: true_positive (DLP valid), false_positive (invalid_data_mislabled), or verbatim invalid_destination_not_risk, invalid_user_exempt, invalid_other",
			"assignee is an analyst e-mail; comment becomes close_note, kept only on closed incidents; title, description and severity are read-only",
		},
		Resolutions: ownResolutions,
	}
}

// Plan implements driver.Driver.
func (d *Driver) Plan(q driver.Query) (*driver.Plan, error) {
	t := translate(q.Criteria, q.Order)
	size := q.PageSize
	if size <= 0 || size > MaxPageSize {
		// Fewer, larger pages: requests, not records, are what the rate limit counts.
		size = MaxPageSize
	}
	req := ListRequest{
		Filters: t.filters, PageSize: size, SortBy: t.sortBy, SortOrder: sortOrder(t.desc),
		IncludeDetails: needsDetails(q.Fields),
	}
	order := t.sortBy + " " + sortOrder(t.desc)
	if !t.sorted {
		order += fmt.Sprintf(" (DLP cannot sort by %s)", q.Order.Key)
	}
	p := &driver.Plan{
		Native: req, Pushed: t.pushed, Exact: t.exact, Skip: t.skip,
		Sorted: t.sorted, Order: order, PageSize: size, Request: req,
	}
	if t.skip {
		// Nothing is sent: no DLP value can match.
		p.Native, p.Pushed = nil, nil
		p.SkipReason = driver.Unsatisfiable("DLP", q.Criteria, func(arg string) bool { return arg != "tenant" },
			slices.Collect(maps.Keys(severityToDLP)), slices.Collect(maps.Keys(statusToDLP)))
	}
	return p, nil
}

// needsDetails reports whether the fields a filter reads include one that
// only include_details carries; "*" reads every field.
func needsDetails(fields []string) bool {
	return slices.Contains(fields, "*") || slices.ContainsFunc(fields, func(f string) bool { return slices.Contains(listOmits, f) })
}

func (d *Driver) listPath() string { return d.c.prefix + "/incidents/list" }

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context, plan *driver.Plan, pos string) (*driver.Page, error) {
	return d.ListPrefix(ctx, plan, pos, 0)
}

var _ driver.PrefixLister = (*Driver)(nil)

// ListPrefix implements driver.PrefixLister: a filter DLP cannot express
// exactly (a time bound finer than its dates) reads pages of 100 for an
// answer of 20, and only the records the answer takes are normalized.
func (d *Driver) ListPrefix(ctx context.Context, plan *driver.Plan, pos string, n int) (*driver.Page, error) {
	req, ok := plan.Request.(ListRequest)
	if !ok {
		return nil, errors.New("dlp: plan from another driver")
	}
	req.PageID = pos
	resp, err := d.c.do(ctx, http.MethodPost, d.listPath(), req, true)
	if err != nil {
		return nil, err
	}
	var lp pageWire
	prefix, err := wire.DecodePrefix[summaryWire](resp.body, "resources", n, &lp, nil)
	if err != nil {
		return nil, fmt.Errorf("dlp list: decode response (request-id %s): %w", resp.requestID, err)
	}
	// The records left undecoded are read from the body: it is given back
	// only when the page is done with.
	page := &driver.Page{Next: lp.NextPageID, RequestID: resp.requestID, RawBytes: len(resp.body), Warnings: warnings(lp.Errors), Done: resp.release}
	if lp.TotalCount != nil {
		page.Total, page.TotalKnown = *lp.TotalCount, true
	}
	wire.FillPage(page, prefix, func(s *summaryWire) schema.Incident { return normalize(&s.wireIncident, false) },
		func(err error) error {
			return fmt.Errorf("dlp list: decode response (request-id %s): %w", resp.requestID, err)
		})
	return page, nil
}

func (d *Driver) list(ctx context.Context, req ListRequest) (*listResponse, *response, error) {
	resp, err := d.c.do(ctx, http.MethodPost, d.listPath(), req, true)
	if err != nil {
		return nil, nil, err
	}
	var lr listResponse
	if err := wire.Decode(resp.body, &lr); err != nil {
		return nil, nil, fmt.Errorf("dlp list: decode response (request-id %s): %w", resp.requestID, err)
	}
	return &lr, resp, nil
}

// warnings surfaces the errors a 200 answer carries next to its results
// (code 0 means none).
func warnings(errs []apiError) []string {
	var out []string
	for _, e := range errs {
		if e.Code != 0 {
			out = append(out, fmt.Sprintf("DLP reported error %d with the results (they may be incomplete): %s", e.Code, e.Message))
		}
	}
	return out
}

// idShape is DLP's incident id. The docs show opaque strings
// ("incident-123") and no format: a token of letters, digits, '.', '_' and
// '-' up to 128 characters covers them and UUIDs, and is one path segment
// of PATCH /incidents/{id} with nothing to escape.
var idShape = wire.IDShape{Vendor: "DLP", Describe: "opaque tokens of letters, digits, '.', '_' and '-' (like incident-123)", Valid: func(s string) bool { return wire.IsToken(s, 128) }}

// Get implements driver.Driver. DLP has no get-one endpoint: it lists with
// filters.incident_ids and include_details.
func (d *Driver) Get(ctx context.Context, nativeID string) (*schema.Incident, error) {
	if err := idShape.Check(nativeID); err != nil {
		return nil, err
	}
	req := ListRequest{Filters: &Filters{IncidentIDs: []string{nativeID}}, PageSize: 1, IncludeDetails: true}
	lr, resp, err := d.list(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, raw := range lr.Resources {
		var w wireIncident
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("dlp get: decode incident (request-id %s): %w", resp.requestID, err)
		}
		// Checked rather than trusted: an API that ignored incident_ids
		// would answer with some other incident.
		if w.ID == nativeID {
			inc := normalize(&w, true)
			inc.Raw = raw
			return &inc, nil
		}
	}
	return nil, &schema.Error{Code: schema.CodeNotFound, RequestID: resp.requestID,
		Msg: fmt.Sprintf("no DLP incident has id %q; list_incidents shows the ids that exist", nativeID)}
}

// ErrorCode implements driver.Driver.
func (d *Driver) ErrorCode(err error) schema.Code {
	if errors.Is(err, errNotConfigured) {
		return schema.CodeFailedPrecondition
	}
	return driver.CodeOf(err)
}
