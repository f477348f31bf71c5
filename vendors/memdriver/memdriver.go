// Package memdriver is a driver.Driver over a slice of incidents in memory,
// the go-cloud memdocstore of this project: it keeps the whole driver
// contract (a real pushdown with honest Exact and Sorted, positions, totals,
// writes with Steps, CheckPatch, ErrorCode) and passes vendors/drivertest,
// so the incidents service can be tested on its own, without a simulator.
//
// Faults are switchable: a vendor status on the next requests or on the Nth
// list page, a refused write, a write whose answer is lost
// (driver.ErrOutcomeUnknown), and latency for time budgets.
package memdriver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

var _ driver.Driver = (*Driver)(nil)

// Defaults of a Config.
const (
	DefaultVendor      = "mem"
	DefaultMaxPageSize = 50
	MaxTitle           = 200
	MaxText            = 2000
)

// Config describes the vendor a Driver plays.
type Config struct {
	// Vendor is the vendor key incidents carry (DefaultVendor when empty).
	Vendor string
	// Incidents are the records, with ID the native id. They are copied.
	Incidents []schema.Incident
	// MaxPageSize is the largest page served (DefaultMaxPageSize when 0).
	MaxPageSize int
	// FixedPageSize, when set, is the size of every page whatever the query
	// asks, as Kaspersky serves 100: the service then reads only a prefix
	// of each page (driver.PrefixLister).
	FixedPageSize int
	// Sorts are the orders the "API" can return; nil means created_at
	// both ways. Other orders come in storage order.
	Sorts []schema.Order
	// Updates are the changes Update makes; nil means all of them.
	Updates []schema.PatchField
	// Resolutions are the vendor's own resolutions, beside the normalized
	// ones: records may carry them and a close takes them
	// (driver.Info.Resolutions).
	Resolutions []schema.Resolution
	// Lacks names filter arguments this vendor's incidents never have
	// ("tenant", "tags", "policy_ids", "user_ids", "device_ids"): a filter
	// on one is skipped without a call.
	Lacks []string
}

// Driver serves Config.Incidents. It is safe for concurrent use.
type Driver struct {
	info    driver.Info
	fixed   int
	lacks   []string
	sorts   []schema.Order
	updates []schema.PatchField

	mu      sync.Mutex
	records []schema.Incident
	// notes are each incident's comments and history, by native id.
	notes  map[string]*notes
	faults faults
	calls  Calls
}

// Calls counts the requests a Driver answered or refused.
type Calls struct {
	List, Get int
	// Prefixes counts the pages listed only in part (ListPrefix).
	Prefixes int
	// Writes counts the write requests that reached the store, WritesOK
	// those it applied.
	Writes, WritesOK int
}

type faults struct {
	failStatus int // answer the next failN requests with this status
	failN      int
	listFail   map[int]int // list call number (1-based from arming) -> status
	listCalls  int
	writeFail  int  // answer the next write with this status, unapplied
	loseAnswer bool // apply the next write, then lose its answer
	latency    time.Duration
}

// New returns a Driver over cfg.
func New(cfg Config) *Driver {
	d := &Driver{lacks: cfg.Lacks, sorts: cfg.Sorts, updates: cfg.Updates, records: clone(cfg.Incidents), notes: map[string]*notes{}}
	if d.sorts == nil {
		d.sorts = []schema.Order{{Key: schema.OrderCreatedAt, Desc: true}, {Key: schema.OrderCreatedAt}}
	}
	if d.updates == nil {
		d.updates = []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee,
			schema.PatchClose, schema.PatchReopen, schema.PatchResolution, schema.PatchComment}
	}
	vendor := cmp.Or(cfg.Vendor, DefaultVendor)
	d.fixed = cfg.FixedPageSize
	d.info = driver.Info{
		Vendor:      vendor,
		MaxPageSize: cmp.Or(cfg.FixedPageSize, cfg.MaxPageSize, DefaultMaxPageSize),
		Sorts:       d.sorts,
		Updates:     d.updates,
		Notes:       []string{"an in-memory store: created_at bounds are applied by whole UTC days, the rest is checked locally"},
		Resolutions: slices.Clone(cfg.Resolutions),
		Write: driver.WriteInfo{
			Resolutions: append([]schema.Resolution{schema.ResolutionTruePositive, schema.ResolutionFalsePositive, schema.ResolutionSuspicious, schema.ResolutionLowPriority}, cfg.Resolutions...),
			Assignee:    `a user id such as "user-7"; "" unassigns`,
			Comment:     "kept in the incident's comment list, as a separate write",
			MaxTitle:    MaxTitle,
			MaxText:     MaxText,
		},
		Sections: driver.AllSections,
	}
	for i := range d.records {
		d.records[i].Vendor = vendor
	}
	return d
}

func clone(in []schema.Incident) []schema.Incident {
	out := make([]schema.Incident, len(in))
	for i := range in {
		out[i] = cloneOne(&in[i])
	}
	return out
}

// cloneOne copies what a caller could alias: the slices and pointers.
func cloneOne(inc *schema.Incident) schema.Incident {
	c := *inc
	c.Tags = slices.Clone(inc.Tags)
	c.Devices = slices.Clone(inc.Devices)
	c.Users = slices.Clone(inc.Users)
	if inc.Assignee != nil {
		a := *inc.Assignee
		c.Assignee = &a
	}
	if inc.Policy != nil {
		p := *inc.Policy
		c.Policy = &p
	}
	c.Details, c.Raw = nil, nil
	return c
}

// Info describes the in-memory vendor.
func (d *Driver) Info() driver.Info { return d.info }

// request is the prepared native request of a Plan.
type request struct {
	severities []schema.Severity
	statuses   []schema.Status
	ids        []string
	// from and to are created_at bounds widened to whole UTC days.
	from, to time.Time
	order    *schema.Order // nil: storage order
}

// Native is the request as a plan shows it.
type Native struct {
	Severities []schema.Severity `json:"severities,omitempty"`
	Statuses   []schema.Status   `json:"statuses,omitempty"`
	IDs        []string          `json:"ids,omitempty"`
	CreatedOn  string            `json:"created_days,omitempty"`
	Sort       string            `json:"sort,omitempty"`
}

// Plan pushes severities, statuses and ids exactly, and created_at bounds
// widened to whole UTC days (a superset unless the bounds are midnights);
// every other criterion is left to the service's re-check.
func (d *Driver) Plan(q driver.Query) (*driver.Plan, error) {
	c := q.Criteria
	p := &driver.Plan{PageSize: min(max(q.PageSize, 1), d.info.MaxPageSize), Exact: true}
	if q.PageSize == 0 {
		p.PageSize = d.info.MaxPageSize
	}
	if d.fixed > 0 {
		p.PageSize = d.fixed
	}
	hasField := func(arg string) bool { return !slices.Contains(d.lacks, arg) }
	if why := driver.Unsatisfiable(d.info.Vendor, c, hasField, schema.Severities, schema.Statuses); c.Impossible || why != "" {
		p.Skip, p.SkipReason = true, why
		return p, nil
	}
	r := &request{}
	if len(c.Severities) > 0 && len(c.Severities) < len(schema.Severities) {
		r.severities = c.Severities
		p.Pushed = append(p.Pushed, "severity")
	}
	if len(c.Statuses) > 0 {
		r.statuses = c.Statuses
		p.Pushed = append(p.Pushed, "status")
	}
	if len(c.IDs) > 0 {
		r.ids = c.IDs
		p.Pushed = append(p.Pushed, "ids")
	}
	day := 24 * time.Hour
	if !c.CreatedAfter.IsZero() {
		r.from = c.CreatedAfter.UTC().Truncate(day)
		p.Pushed = append(p.Pushed, "created_after")
		p.Exact = p.Exact && r.from.Equal(c.CreatedAfter)
	}
	if !c.CreatedBefore.IsZero() {
		r.to = c.CreatedBefore.UTC().Truncate(day)
		if !r.to.Equal(c.CreatedBefore) {
			r.to = r.to.Add(day)
			p.Exact = false
		}
		p.Pushed = append(p.Pushed, "created_before")
	}
	rest := c
	rest.Severities, rest.Statuses, rest.IDs, rest.CreatedAfter, rest.CreatedBefore = nil, nil, nil, time.Time{}, time.Time{}
	if !rest.Empty() {
		p.Exact = false
	}
	p.Order = "storage order"
	if slices.Contains(d.sorts, q.Order) {
		o := q.Order
		r.order, p.Sorted, p.Order = &o, true, ""
	}
	n := Native{Severities: r.severities, Statuses: r.statuses, IDs: r.ids}
	if !r.from.IsZero() || !r.to.IsZero() {
		n.CreatedOn = r.from.Format(time.DateOnly) + ".." + r.to.Format(time.DateOnly)
	}
	if r.order != nil {
		n.Sort = r.order.String()
	}
	p.Native, p.Request = n, r
	return p, nil
}

func (r *request) selects(inc *schema.Incident) bool {
	switch {
	case r.severities != nil && !slices.Contains(r.severities, inc.Severity),
		r.statuses != nil && !slices.Contains(r.statuses, inc.Status),
		r.ids != nil && !slices.Contains(r.ids, inc.ID),
		!r.from.IsZero() && inc.CreatedAt.Before(r.from),
		!r.to.IsZero() && !inc.CreatedAt.Before(r.to):
		return false
	}
	return true
}

// List serves the page of plan at pos, a record offset ("" is 0). Total is
// the size of the native selection.
func (d *Driver) List(ctx context.Context, plan *driver.Plan, pos string) (*driver.Page, error) {
	r, ok := plan.Request.(*request)
	if !ok {
		return nil, fmt.Errorf("list: plan %T is not a memdriver plan", plan.Request)
	}
	off := 0
	if pos != "" {
		n, err := strconv.Atoi(pos)
		if err != nil || n < 0 {
			return nil, &driver.HTTPError{Method: http.MethodGet, Path: "/incidents", Status: http.StatusBadRequest, Message: "bad position " + strconv.Quote(pos)}
		}
		off = n
	}
	if err := d.enter(ctx, true); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var sel []*schema.Incident
	for i := range d.records {
		if r.selects(&d.records[i]) {
			sel = append(sel, &d.records[i])
		}
	}
	if r.order != nil {
		slices.SortStableFunc(sel, func(a, b *schema.Incident) int { return r.order.Compare(a, b) })
	}
	page := &driver.Page{Total: len(sel), TotalKnown: true}
	for i := off; i < min(off+plan.PageSize, len(sel)); i++ {
		page.Incidents = append(page.Incidents, cloneOne(sel[i]))
	}
	if end := off + plan.PageSize; end < len(sel) {
		page.Next = strconv.Itoa(end)
	}
	return page, nil
}

var _ driver.PrefixLister = (*Driver)(nil)

// ListPrefix implements driver.PrefixLister: the first n records of the
// page List serves. Calls().Prefixes counts the calls that left some unread.
func (d *Driver) ListPrefix(ctx context.Context, plan *driver.Plan, pos string, n int) (*driver.Page, error) {
	page, err := d.List(ctx, plan, pos)
	if err != nil || n <= 0 || n >= len(page.Incidents) {
		return page, err
	}
	rest := page.Incidents[n:]
	page.Unread, page.Incidents = len(rest), page.Incidents[:n:n]
	page.Rest = func() ([]schema.Incident, error) { return rest, nil }
	d.mu.Lock()
	d.calls.Prefixes++
	d.mu.Unlock()
	return page, nil
}

// ErrNotFound is Get's and Update's answer for an unknown id.
var ErrNotFound = &driver.HTTPError{Method: http.MethodGet, Path: "/incidents/{id}", Status: http.StatusNotFound, Message: "no such incident"}

// Get returns the incident with its Raw record and Details.
func (d *Driver) Get(ctx context.Context, nativeID string) (*schema.Incident, error) {
	if err := d.enter(ctx, false); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.index(nativeID)
	if i < 0 {
		return nil, ErrNotFound
	}
	inc := cloneOne(&d.records[i])
	inc.Raw, _ = json.Marshal(inc)
	inc.Details = map[string]any{"store": "memory"}
	return &inc, nil
}

func (d *Driver) index(id string) int {
	return slices.IndexFunc(d.records, func(inc schema.Incident) bool { return inc.ID == id })
}

// enter counts a request and applies the armed request faults.
func (d *Driver) enter(ctx context.Context, list bool) error {
	d.mu.Lock()
	lat := d.faults.latency
	status := 0
	if list {
		d.calls.List++
		d.faults.listCalls++
		status = d.faults.listFail[d.faults.listCalls]
	} else {
		d.calls.Get++
	}
	if status == 0 && d.faults.failN > 0 {
		d.faults.failN--
		status = d.faults.failStatus
	}
	d.mu.Unlock()
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if status != 0 {
		return &driver.HTTPError{Method: http.MethodGet, Path: "/incidents", Status: status, Message: "injected by memdriver"}
	}
	return nil
}

// CheckPatch refuses what Update would: fields outside Info.Updates, a
// status other than open or closed, a close without a known resolution, a
// resolution without a close, an assignee that is not "user-<n>", text over
// the caps, closing a closed incident and reopening an open one.
func (d *Driver) CheckPatch(cur *schema.Incident, p schema.Patch) error {
	for _, f := range p.Fields() {
		if !slices.Contains(d.updates, f) {
			return schema.Errorf(schema.CodeUnsupported, "%s cannot change %s", d.info.Vendor, f)
		}
	}
	closing := p.Status != nil && *p.Status == schema.StatusClosed
	switch {
	case p.Status != nil && *p.Status != schema.StatusOpen && !closing:
		return schema.ArgError("status", "%s sets status open or closed, not %q", d.info.Vendor, *p.Status)
	case closing && p.Resolution == nil:
		return schema.ArgError("resolution", "closing needs a resolution")
	case !closing && p.Resolution != nil:
		return schema.ArgError("resolution", "a resolution is set only when closing")
	case closing && !slices.Contains(d.info.Write.Resolutions, *p.Resolution):
		return schema.ArgError("resolution", "%s takes %v, not %q", d.info.Vendor, d.info.Write.Resolutions, *p.Resolution)
	case p.Title != nil && strings.TrimSpace(*p.Title) == "":
		return schema.ArgError("title", "a title cannot be empty")
	case p.Title != nil && utf8.RuneCountInString(*p.Title) > MaxTitle:
		return schema.ArgError("title", "at most %d characters", MaxTitle)
	case p.Description != nil && utf8.RuneCountInString(*p.Description) > MaxText:
		return schema.ArgError("description", "at most %d characters", MaxText)
	case p.Comment != nil && utf8.RuneCountInString(*p.Comment) > MaxText:
		return schema.ArgError("comment", "at most %d characters", MaxText)
	case p.Assignee != nil && *p.Assignee != "" && !validUser(*p.Assignee):
		return schema.ArgError("assignee", "%q is not a user id (user-<n>)", *p.Assignee)
	case closing && cur.Status == schema.StatusClosed:
		return schema.Errorf(schema.CodeFailedPrecondition, "%s is already closed", cur.ID)
	case p.Status != nil && !closing && cur.Status == schema.StatusOpen:
		return schema.Errorf(schema.CodeFailedPrecondition, "%s is already open", cur.ID)
	}
	return nil
}

func validUser(s string) bool {
	n, ok := strings.CutPrefix(s, "user-")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}

// Update makes the fields change as one write ("PATCH incident") and a
// comment as a second ("POST comment"), so a failure between them is a
// partial write.
func (d *Driver) Update(ctx context.Context, nativeID string, p schema.Patch) (*driver.UpdateResult, error) {
	cur, err := d.Get(ctx, nativeID)
	if err != nil {
		return nil, err
	}
	if err := d.CheckPatch(cur, p); err != nil {
		return nil, err
	}
	res := &driver.UpdateResult{}
	fields := p
	fields.Comment = nil
	if len(fields.Fields()) > 0 {
		if err := d.write(ctx, res, "PATCH incident", nativeID, func(inc *schema.Incident) { d.record(inc, fields); apply(inc, fields) }); err != nil {
			return res, err
		}
	}
	if p.Comment != nil {
		if err := d.write(ctx, res, "POST comment", nativeID, func(inc *schema.Incident) { d.comment(inc, *p.Comment) }); err != nil {
			return res, err
		}
	}
	d.mu.Lock()
	after := cloneOne(&d.records[d.index(nativeID)])
	d.mu.Unlock()
	res.Incident = &after
	return res, nil
}

// write is one write request: refused, applied, or applied with its answer
// lost, as the faults say.
func (d *Driver) write(ctx context.Context, res *driver.UpdateResult, call, id string, change func(*schema.Incident)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fail, lose := d.faults.writeFail, d.faults.loseAnswer
	d.faults.writeFail, d.faults.loseAnswer = 0, false
	if fail != 0 {
		err := &driver.HTTPError{Method: http.MethodPost, Path: "/incidents/" + id, Status: fail, Message: "injected by memdriver"}
		res.Steps = append(res.Steps, driver.Step{Call: call, Error: err.Error()})
		return err
	}
	d.calls.Writes++
	i := d.index(id)
	inc := &d.records[i]
	change(inc)
	// Every write moves updated_at forward, even within one clock tick.
	inc.UpdatedAt = later(inc.UpdatedAt)
	d.calls.WritesOK++
	if lose {
		err := fmt.Errorf("%s %s: %w", call, id, driver.ErrOutcomeUnknown)
		res.Steps = append(res.Steps, driver.Step{Call: call, Error: err.Error()})
		return err
	}
	res.Steps = append(res.Steps, driver.Step{Call: call, OK: true})
	return nil
}

func later(t time.Time) time.Time {
	now := time.Now().UTC().Truncate(time.Millisecond)
	if now.After(t) {
		return now
	}
	return t.Add(time.Millisecond)
}

func apply(inc *schema.Incident, p schema.Patch) {
	if p.Title != nil {
		inc.Title = *p.Title
	}
	if p.Description != nil {
		inc.Description = *p.Description
	}
	if p.Severity != nil {
		inc.Severity = *p.Severity
	}
	if p.Assignee != nil {
		inc.Assignee = nil
		if *p.Assignee != "" {
			inc.Assignee = &schema.Ref{ID: *p.Assignee}
		}
	}
	if p.Status != nil {
		inc.Status = *p.Status
		inc.StatusChangedAt = later(inc.StatusChangedAt)
		if *p.Status != schema.StatusClosed {
			inc.Resolution = ""
		}
	}
	if p.Resolution != nil {
		inc.Resolution = *p.Resolution
	}
}

// ErrorCode classifies this driver's errors: a refused change by its own
// code, a vendor status as HTTP would, a canceled call as unavailable.
func (d *Driver) ErrorCode(err error) schema.Code { return driver.CodeOf(err) }
