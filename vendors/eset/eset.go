// Package eset is the driver for ESET Connect's Incident Management API
// (ESET Inspect / ESET PROTECT): OAuth password grant with refresh, the CEL
// `filter` of GET /v2/incidents built within its 200-character limit, the 202
// + response-id protocol, and the 10 requests/s rate limit.
package eset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// Vendor is this driver's vendor key.
const Vendor = "eset"

// Regions are ESET Connect's data centres.
var Regions = []string{"eu", "de", "us", "ca", "jpn"}

// Config configures one ESET Connect instance.
type Config struct {
	// Region selects the hosts: eu, de, us, ca or jpn. APIURL and TokenURL
	// override it (tests, proxies).
	Region   string
	APIURL   string
	TokenURL string
	Username string
	Password string
	// RateLimit is requests per second; 0 means ESET's 10. The default
	// limiter never lets more than RateLimit requests into any one second.
	RateLimit float64
	// Limiter replaces that local limiter (a shared one across replicas).
	Limiter driver.Limiter
	// Common: Instance defaults to "eset"; HTTPClient to one with a 60 s
	// timeout.
	descriptor.Common
}

// MaxPageSize is the largest page ESET serves.
const MaxPageSize = 1000

var _ driver.Driver = (*Driver)(nil)

// Driver implements driver.Driver for ESET Connect.
type Driver struct {
	c   *client
	now func() time.Time
}

// New returns a driver for cfg. It does no I/O: credentials are first used
// on the first call.
func New(cfg Config) (*Driver, error) {
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errNotConfigured
	}
	if cfg.APIURL == "" || cfg.TokenURL == "" {
		if !validRegion(cfg.Region) {
			return nil, fmt.Errorf("eset: unknown region %q; use one of %s, or set explicit API and token URLs", cfg.Region, strings.Join(Regions, ", "))
		}
		if cfg.APIURL == "" {
			cfg.APIURL = "https://" + cfg.Region + ".incident-management.eset.systems"
		}
		if cfg.TokenURL == "" {
			cfg.TokenURL = "https://" + cfg.Region + ".business-account.iam.eset.systems/oauth/token"
		}
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 10
	}
	cfg.Common = cfg.WithDefaults(Vendor)
	if cfg.Limiter == nil {
		cfg.Limiter = newLimiter(cfg.RateLimit, cfg.Now, cfg.Sleep)
	}
	c := &client{
		hc:     httpx.New(httpx.Config{Common: cfg.Common, Limiter: cfg.Limiter, Policy: httpx.Policy{Retry429: true}}),
		apiURL: strings.TrimRight(cfg.APIURL, "/"), tokenURL: cfg.TokenURL,
		username: cfg.Username, password: cfg.Password,
		log: cfg.Logger, now: cfg.Now, sleep: cfg.Sleep,
	}
	return &Driver{c: c, now: cfg.Now}, nil
}

// newLimiter keeps within ESET's limit of perSecond requests in any one
// second. Fractional and large rates (tests) become whole requests per a
// proportionally longer or shorter window. Each window is stretched by 4 %
// (40 ms at 10 per second) so that requests that reach ESET after delays
// differing by up to that much (a busy network or CPU) still never put
// perSecond+1 into one of its seconds: a long scan runs at 96 % of the limit.
func newLimiter(perSecond float64, now func() time.Time, sleep func(context.Context, time.Duration) error) driver.Limiter {
	n := max(int(perSecond), 1)
	window := time.Duration(float64(time.Second) * float64(n) / perSecond)
	return httpx.NewWindowLimiter(n, window, window/25, now, sleep)
}

func validRegion(r string) bool {
	for _, x := range Regions {
		if r == x {
			return true
		}
	}
	return false
}

// Info implements driver.Driver.
func (d *Driver) Info() driver.Info {
	return driver.Info{
		Vendor:      Vendor,
		MaxPageSize: MaxPageSize,
		ListOmits:   []string{"devices", "detection_ids"},
		Sorts: []schema.Order{
			{Key: schema.OrderCreatedAt, Desc: true}, {Key: schema.OrderCreatedAt},
			{Key: schema.OrderUpdatedAt, Desc: true}, {Key: schema.OrderUpdatedAt},
			{Key: schema.OrderSeverity, Desc: true}, {Key: schema.OrderSeverity},
		},
		Updates:  updatable,
		Write:    writeInfo,
		Sections: sections,
		Notes: []string{
			"severities: low, medium, high (no informational or critical)",
			"statuses: open, in_progress, on_hold, closed (no resolved)",
			"no tenants, users or policies on incidents",
		},
	}
}

// NativeRequest is the list request as ESET receives it; echoed to the model.
type NativeRequest struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Filter   string `json:"filter,omitempty"`
	OrderBy  string `json:"orderBy,omitempty"`
	PageSize int    `json:"pageSize"`
}

// Plan implements driver.Driver.
func (d *Driver) Plan(q driver.Query) (*driver.Plan, error) {
	t := translate(q.Criteria, q.Order, d.now())
	size := min(max(q.PageSize, 1), MaxPageSize)
	req := NativeRequest{Method: http.MethodGet, Path: "/v2/incidents", Filter: t.filter, OrderBy: t.orderBy, PageSize: size}
	order := "create_time ascending (ESET's default)"
	if t.orderBy != "" {
		order = t.orderBy + " (ESET's orderBy)"
	}
	p := &driver.Plan{
		Native: req, Pushed: t.pushed, Exact: t.exact, Skip: t.skip,
		Sorted: t.sorted, Order: order,
		PageSize: size, Request: req,
	}
	if t.skip {
		p.SkipReason = driver.Unsatisfiable("ESET", q.Criteria, func(arg string) bool { return arg == "device_ids" || arg == "tags" },
			slices.Collect(maps.Keys(severityToESET)), slices.Collect(maps.Keys(statusToESET)))
	}
	return p, nil
}

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context, plan *driver.Plan, pos string) (*driver.Page, error) {
	req, ok := plan.Request.(NativeRequest)
	if !ok {
		return nil, errors.New("eset: plan from another driver")
	}
	resp, err := d.c.doQuery(ctx, http.MethodGet, "/v2/incidents", listQuery(req, pos), nil)
	if err != nil {
		return nil, err
	}
	incidents, next, err := decodeList(resp.body, req.PageSize)
	size := len(resp.body)
	resp.release() // the incidents hold a copy of the text they need
	if err != nil {
		return nil, fmt.Errorf("eset list: decode response (request-id %s): %w", resp.requestID, err)
	}
	page := &driver.Page{Next: next, RequestID: resp.requestID, RawBytes: size, Incidents: incidents}
	return page, nil
}

// listQuery is the query of a list request, as url.Values.Encode writes
// it (names in order, values escaped), in one builder: the url.Values, its
// slices and Encode cost about ten allocations a call.
func listQuery(req NativeRequest, pos string) string {
	var b strings.Builder
	b.Grow(64 + len(req.Filter)*3/2 + len(req.OrderBy) + len(pos))
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(value))
	}
	if req.Filter != "" {
		add("filter", req.Filter)
	}
	if req.OrderBy != "" {
		add("orderBy", req.OrderBy)
	}
	add("pageSize", strconv.Itoa(req.PageSize))
	if pos != "" {
		add("pageToken", pos)
	}
	return b.String()
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, nativeID string) (*schema.Incident, error) {
	seg, err := idShape.Segment(nativeID)
	if err != nil {
		return nil, err
	}
	resp, err := d.c.do(ctx, http.MethodGet, "/v2/incidents/"+seg, nil, nil)
	if err != nil {
		return nil, err
	}
	var gr getResponse
	var w wireIncident
	if err := json.Unmarshal(resp.body, &gr); err != nil || json.Unmarshal(gr.Incident, &w) != nil {
		return nil, fmt.Errorf("eset get: decode response (request-id %s)", resp.requestID)
	}
	inc := normalize(&w, true)
	inc.Raw = gr.Incident
	return &inc, nil
}

// ErrorCode implements driver.Driver.
func (d *Driver) ErrorCode(err error) schema.Code {
	if he, ok := errors.AsType[*driver.HTTPError](err); ok {
		return driver.CodeForStatus(he.Status)
	}
	if errors.Is(err, errNotConfigured) {
		return schema.CodeFailedPrecondition
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return schema.CodeDeadlineExceeded
	}
	return schema.CodeUnavailable
}
