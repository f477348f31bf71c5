//go:build examplevendor

// Package examplevendor is a fourth vendor that exists only in builds with
// the examplevendor tag: a tiny in-process simulator (a list with cursor
// paging, one record, one write: the state) and a driver for it that
// passes vendors/drivertest. It proves that a vendor is its own package
// plus one line of vendors/registry: with the tag, it appears in the
// --demo mode, in incident-sim and in describe_instances, and no other
// file names it.
package examplevendor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Vendor is the vendor key.
const Vendor = "example"

// maxPage is the largest page the API serves.
const maxPage = 100

// Config configures a Driver.
type Config struct {
	// BaseURL is the API's base, e.g. http://127.0.0.1:8704.
	BaseURL string
	APIKey  string
	// HTTPClient sends the requests; nil means one with a 30 s timeout.
	// The driver logs nothing and has no layer to observe: of
	// descriptor.Options it takes only the client.
	HTTPClient *http.Client
}

// Driver speaks the example vendor's API.
type Driver struct {
	cfg Config
}

var _ driver.Driver = (*Driver)(nil)

// New checks cfg and returns a driver; it does no I/O.
func New(cfg Config) (*Driver, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("example: an API key is required")
	}
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("example: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Driver{cfg: cfg}, nil
}

// Info tells what the API can do: list newest first, change the state.
func (d *Driver) Info() driver.Info {
	return driver.Info{
		Vendor:      Vendor,
		MaxPageSize: maxPage,
		Sorts:       []schema.Order{schema.DefaultOrder},
		Updates:     []schema.PatchField{schema.PatchReopen},
		Notes:       []string{"a test-only vendor: its API filters nothing, so every filter is checked by the server"},
	}
}

// Plan pushes nothing down: the list returns every record, newest first.
func (d *Driver) Plan(q driver.Query) (*driver.Plan, error) {
	size := min(max(q.PageSize, 1), maxPage)
	return &driver.Plan{
		Native:   map[string]any{"limit": size},
		Exact:    q.Criteria.Empty(),
		Sorted:   q.Order == schema.DefaultOrder,
		Order:    "newest first",
		PageSize: size,
	}, nil
}

// List reads the page at pos.
func (d *Driver) List(ctx context.Context, plan *driver.Plan, pos string) (*driver.Page, error) {
	q := url.Values{"limit": {fmt.Sprint(plan.PageSize)}}
	if pos != "" {
		q.Set("cursor", pos)
	}
	var ans listAnswer
	body, err := d.do(ctx, http.MethodGet, "/api/incidents?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	page := &driver.Page{Next: ans.Next, Total: ans.Total, TotalKnown: true, RawBytes: len(body)}
	for _, r := range ans.Items {
		page.Incidents = append(page.Incidents, normalize(r))
	}
	return page, nil
}

// Get reads one incident, with the vendor's record as Raw.
func (d *Driver) Get(ctx context.Context, nativeID string) (*schema.Incident, error) {
	body, err := d.do(ctx, http.MethodGet, "/api/incidents/"+url.PathEscape(nativeID), nil)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("get incident: %w", err)
	}
	inc := normalize(r)
	inc.Raw = body
	return &inc, nil
}

// stateOf is the vendor's state of each status it has.
var stateOf = map[schema.Status]string{schema.StatusOpen: "new", schema.StatusInProgress: "active", schema.StatusClosed: "done"}

// CheckPatch accepts a change of status to open or in_progress only.
func (d *Driver) CheckPatch(_ *schema.Incident, patch schema.Patch) error {
	for _, f := range patch.Fields() {
		if f != schema.PatchReopen {
			return schema.Errorf(schema.CodeUnsupported, "the example vendor changes only the status (to open or in_progress); %s cannot be changed", f)
		}
	}
	if patch.Status == nil {
		return schema.ArgError("status", "nothing to change")
	}
	if s := *patch.Status; s != schema.StatusOpen && s != schema.StatusInProgress {
		return schema.ArgError("status", "the example vendor has no %s status; use open or in_progress", s)
	}
	return nil
}

// Update changes the state: one write.
func (d *Driver) Update(ctx context.Context, nativeID string, patch schema.Patch) (*driver.UpdateResult, error) {
	if err := d.CheckPatch(nil, patch); err != nil {
		return nil, err
	}
	call := "POST /api/incidents/{id}/state"
	body, _ := json.Marshal(map[string]string{"state": stateOf[*patch.Status]})
	ans, err := d.do(ctx, http.MethodPost, "/api/incidents/"+url.PathEscape(nativeID)+"/state", body)
	if err != nil {
		return &driver.UpdateResult{Steps: []driver.Step{{Call: call, Error: driver.Class(err)}}}, err
	}
	var r record
	if err := json.Unmarshal(ans, &r); err != nil {
		return &driver.UpdateResult{Steps: []driver.Step{{Call: call, Error: "unreadable answer"}}}, fmt.Errorf("update incident: %w: %w", driver.ErrOutcomeUnknown, err)
	}
	inc := normalize(r)
	return &driver.UpdateResult{Incident: &inc, Steps: []driver.Step{{Call: call, OK: true}}}, nil
}

// ErrorCode classifies the driver's errors.
func (d *Driver) ErrorCode(err error) schema.Code { return driver.CodeOf(err) }

// do sends one request and reads its answer. A write whose answer is lost
// after it was sent is an unknown outcome.
func (d *Driver) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.cfg.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	write := method != http.MethodGet
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		if write && ctx.Err() == nil {
			return nil, fmt.Errorf("%s %s: %w: %w", method, path, driver.ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		if write {
			return nil, fmt.Errorf("%s %s: %w: %w", method, path, driver.ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var m struct {
			Message string `json:"message"`
		}
		json.Unmarshal(b, &m)
		return nil, &driver.HTTPError{Method: method, Path: path, Status: resp.StatusCode, Message: m.Message}
	}
	return b, nil
}

// normalize maps a record to the model.
func normalize(r record) schema.Incident {
	inc := schema.Incident{
		ID: r.ID, Vendor: Vendor, Title: r.Title, VendorSeverity: r.Severity, VendorStatus: r.State,
		CreatedAt: r.Created.UTC(), UpdatedAt: r.Updated.UTC(),
	}
	if s, ok := schema.ParseSeverity(r.Severity); ok {
		inc.Severity = s
	}
	for st, v := range stateOf {
		if v == r.State {
			inc.Status = st
		}
	}
	if !slices.Contains(states, r.State) {
		inc.Status = schema.StatusOpen
	}
	return inc
}
