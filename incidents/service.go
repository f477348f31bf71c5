package incidents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Page sizes, counted in matches returned to the model.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Budget bounds the upstream work of one list call. When it is spent the
// call returns what it has and a cursor to continue.
type Budget struct {
	// Requests is the most upstream requests (pages and full reads).
	Requests int
	// Time is the most wall time spent reading upstream.
	Time time.Duration
}

// DefaultBudget suits an interactive assistant: an answer within seconds.
var DefaultBudget = Budget{Requests: 20, Time: 20 * time.Second}

// answerMargin is the time past Budget.Time that a call's context allows:
// a request started just before the budget ran out may finish, and the page
// read so far is still answered. No call outlives Budget.Time + answerMargin.
const answerMargin = time.Second

// deadline bounds one call's upstream work by its budget.
func deadline(ctx context.Context, b Budget) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.Time+answerMargin)
}

// Instance is one configured vendor account.
type Instance struct {
	Name     string
	Driver   driver.Driver
	ReadOnly bool
	// Budget overrides the service's per-call budget where non-zero.
	Budget Budget
	// RateLimit describes the pace requests are held to, for people.
	RateLimit string
}

// instance is the service's own record of a configured Instance: a copy of
// it (the caller's value is never modified) plus what the service learns.
type instance struct {
	Instance
	// lastOK is when the vendor last answered a call (Unix nanoseconds).
	lastOK atomic.Int64
	// info is Driver.Info(), read once: it never changes, and records are
	// stamped with its vendor on the hot path.
	info driver.Info
}

// Service lists and reads incidents across configured instances.
type Service struct {
	instances map[string]*instance
	names     []string
	sealer    *Sealer
	budget    Budget
	log       *slog.Logger
	now       func() time.Time
	audit     *audit.Log
	nonces    NonceStore
	locker    Locker
	access    *access.Policy
	// lang is the filter language of the configured vendors: the
	// normalized vocabulary and every instance's own resolutions.
	lang *filter.Language
}

// Option configures a Service.
type Option func(*Service)

// WithBudget sets the per-call scan budget.
func WithBudget(b Budget) Option { return func(s *Service) { s.budget = b } }

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// New returns a Service over instances.
func New(instances []*Instance, sealer *Sealer, log *slog.Logger, opts ...Option) (*Service, error) {
	s := &Service{instances: map[string]*instance{}, sealer: sealer, budget: DefaultBudget, log: log, now: time.Now}
	for _, in := range instances {
		if in.Name == "" || strings.ContainsAny(in.Name, ": ") {
			return nil, fmt.Errorf("instance name %q: must be non-empty without ':' or spaces", in.Name)
		}
		if _, dup := s.instances[in.Name]; dup {
			return nil, fmt.Errorf("instance %q configured twice", in.Name)
		}
		s.instances[in.Name] = &instance{Instance: *in, info: in.Driver.Info()}
		s.names = append(s.names, in.Name)
	}
	if len(s.names) == 0 {
		return nil, errors.New("no instances configured")
	}
	sort.Strings(s.names)
	var own []schema.Resolution
	for _, n := range s.names {
		own = append(own, s.instances[n].info.Resolutions...)
	}
	lang, err := filter.NewLanguage(own...)
	if err != nil {
		return nil, fmt.Errorf("filter language: %w", err)
	}
	s.lang = lang
	for _, o := range opts {
		o(s)
	}
	if s.nonces == nil {
		s.nonces = NewMemoryNonces()
	}
	if s.locker == nil {
		s.locker = NewMemoryLocker()
	}
	return s, nil
}

// InstanceInfo describes a configured instance.
type InstanceInfo struct {
	Name      string      `json:"name"`
	ReadOnly  bool        `json:"read_only,omitempty"`
	RateLimit string      `json:"rate_limit,omitempty"`
	Info      driver.Info `json:"-"`
	// LastContact is when the vendor last answered, zero if never.
	LastContact time.Time `json:"last_contact,omitzero"`
}

// Instances lists the configured instances by name.
func (s *Service) Instances() []InstanceInfo {
	out := make([]InstanceInfo, len(s.names))
	for i, n := range s.names {
		in := s.instances[n]
		out[i] = InstanceInfo{Name: n, ReadOnly: in.ReadOnly, RateLimit: in.RateLimit, Info: in.info, LastContact: in.LastContact()}
	}
	return out
}

// instance resolves the instance of op among the instances the caller may
// read; one it may not read is answered as not configured.
func (s *Service) instance(ctx context.Context, op, name string) (*instance, error) {
	in, ok := s.instances[name]
	if !ok {
		return nil, noInstance("instance", name, s.visible(ctx), false)
	}
	if err := s.mayRead(ctx, op, "instance", name, "", false); err != nil {
		return nil, err
	}
	return in, nil
}

// pageRequest is one instance's page of a list question.
type pageRequest struct {
	Instance string
	Filter   schema.Filter
	Where    string
	OrderBy  string
	PageSize int
	Cursor   string
	Explain  bool

	// now pins the time relative times resolve against, and budget the
	// upstream work, when a fan-out runs this request for one instance.
	now    time.Time
	budget Budget
	// fields are incident fields the caller needs besides the filter's
	// (a count by device needs the devices).
	fields []string
}

// AppliedQuery echoes how a list call was understood and executed.
type AppliedQuery struct {
	// Instance is the instance of a one-instance listing, Instances those
	// of a fan-out or a count.
	Instance  string   `json:"instance,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Vendor    string   `json:"vendor,omitempty"`
	// Filter is the structured criteria with absolute UTC times.
	Filter schema.Criteria `json:"filter"`
	Where  string          `json:"where,omitempty"`
	// Now is the time relative times and `now` resolved against.
	Now     time.Time `json:"now"`
	OrderBy string    `json:"order_by"`
	// Sorted tells whether results come in OrderBy (over several
	// instances: whether every instance returned its records in it).
	Sorted bool `json:"sorted"`
	// VendorPlan is how the one instance's vendor was asked; nil over
	// several instances, whose statuses say it each.
	*VendorPlan
}

// VendorPlan is how one instance's vendor was asked.
type VendorPlan struct {
	// Order is what order results come in when they are not Sorted.
	Order string `json:"order,omitempty"`
	// Native is the request sent to the vendor.
	Native any `json:"native_request,omitempty"`
	// Pushed lists the criteria the vendor applied; everything is then
	// re-checked locally on every record.
	Pushed []string `json:"pushed,omitempty"`
	// Exact is true when the vendor's selection needed no local narrowing.
	Exact bool `json:"exact"`
	// Unsatisfiable names the criterion this instance's incidents can never
	// satisfy, when that is why nothing was asked.
	Unsatisfiable string `json:"unsatisfiable,omitempty"`
}

// ScanStats says how much upstream work a call did.
type ScanStats struct {
	Requests      int  `json:"upstream_requests"`
	Scanned       int  `json:"records_scanned"`
	BudgetReached bool `json:"budget_reached,omitempty"`
	// Error is the upstream failure that cut the scan short, when matches
	// found before it are returned.
	Error string `json:"error,omitempty"`
}

// cursor is the sealed state of a listing between calls.
type cursor struct {
	Instance string    `json:"i"`
	Query    string    `json:"q"`
	Pos      string    `json:"p,omitempty"`
	Offset   int       `json:"o,omitempty"`
	PageSize int       `json:"s"`
	Now      time.Time `json:"n"`
	// Seen and Hits are the records the listing scanned and found so far:
	// their ratio sizes what later calls decode of a page.
	Seen int `json:"sn,omitempty"`
	Hits int `json:"h,omitempty"`
}

const cursorKind = "cursor"

// queryHash binds a cursor to the query it continues.
func queryHash(instance string, r *pageRequest) string {
	b, _ := json.Marshal(struct {
		I string
		F schema.Filter
		W string
		O string
	}{instance, r.Filter, strings.TrimSpace(r.Where), strings.TrimSpace(strings.ToLower(r.OrderBy))})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// shape checks the page size (0 is the default) and reads the order, the
// same for one instance and for many.
func (r *pageRequest) shape() (int, schema.Order, error) {
	pageSize := r.PageSize
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return 0, schema.Order{}, schema.ArgError("page_size", "must be between 1 and %d, got %d", MaxPageSize, pageSize)
	}
	order, err := schema.ParseOrder(r.OrderBy)
	return pageSize, order, err
}

// onePage is a one-instance page in one allocation: the result and the
// parts it points to.
type onePage struct {
	res    QueryResult
	paging Paging
	plan   VendorPlan
	scan   ScanStats
}

// page returns one page of one instance's incidents matching r: a list
// question's answer for one instance, and each instance's part of a
// fan-out, a count, a feed and a related search.
func (s *Service) page(ctx context.Context, r pageRequest) (*QueryResult, error) {
	in, err := s.instance(ctx, "list", r.Instance)
	if err != nil {
		return nil, err
	}
	pageSize, order, err := r.shape()
	if err != nil {
		return nil, err
	}
	qhash := queryHash(in.Name, &r)
	now := s.now().UTC().Truncate(time.Second)
	if !r.now.IsZero() {
		now = r.now
	}
	var cur cursor
	if r.Cursor != "" {
		if err := s.sealer.Open(cursorKind, r.Cursor, now, &cur); err != nil {
			if s.sealer.Open(manyCursorKind, r.Cursor, now, &manyCursor{}) == nil {
				return nil, schema.ArgError("cursor", "this cursor continues a listing over several instances, not one: repeat that call's instance argument (or leave instance out) with the cursor, or leave cursor out to list %s from the first page", in.Name)
			}
			return nil, schema.ArgError("cursor", "this cursor is not valid (%v); pass next_cursor exactly as a previous list_incidents call returned it, or leave cursor out to start from the first page", err)
		}
		if cur.Instance != in.Name || cur.Query != qhash {
			return nil, schema.ArgError("cursor", "this cursor belongs to a different query; repeat the exact filter, where, order_by and instance of the call that returned it, or leave cursor out to start over")
		}
		now = cur.Now
	}
	prog, err := s.lang.Compile(r.Filter, r.Where, now)
	if err != nil {
		return nil, err
	}
	info := in.info
	fields := prog.Fields()
	if len(r.fields) > 0 {
		fields = slices.Compact(slices.Sorted(slices.Values(append(fields, r.fields...))))
	}
	q := driver.Query{Criteria: nativeCriteria(prog.Criteria, in.Name), Order: order, Fields: fields}
	plan, err := planPages(in.Driver, q, pageSize, info.MaxPageSize, prog, r.Cursor != "", cur.PageSize)
	if err != nil {
		return nil, s.wrap(in, "plan query", err)
	}
	pg := &onePage{plan: VendorPlan{Order: plan.Order, Native: plan.Native, Pushed: plan.Pushed, Exact: plan.Exact && prog.Where == ""}}
	res := &pg.res
	*res = QueryResult{Incidents: []schema.Incident{}, Paging: &pg.paging, Scan: &pg.scan, Query: AppliedQuery{
		Instance: in.Name, Vendor: info.Vendor, Filter: prog.Criteria, Where: prog.Where, Now: now,
		OrderBy: order.String(), Sorted: plan.Sorted, VendorPlan: &pg.plan,
	}}
	if !plan.Sorted {
		res.Notes = append(res.Notes, fmt.Sprintf("%s cannot return records ordered by %s; they come in %s", info.Vendor, order, plan.Order))
	}
	if r.Explain {
		res.Notes = append(res.Notes, "explain: the plan only; the vendor was not called")
		return res, nil
	}
	if plan.Skip || q.Criteria.Impossible {
		zero := 0
		res.Total = &zero
		if plan.SkipReason != "" && !q.Criteria.Impossible {
			res.Query.Unsatisfiable = plan.SkipReason
			res.Notes = append(res.Notes, fmt.Sprintf("no incident of %s can match (%s); the vendor was not called", in.Name, plan.SkipReason))
		} else {
			res.Notes = append(res.Notes, "no incident can match these arguments together; the vendor was not called")
		}
		return res, nil
	}
	hydrate := slices.ContainsFunc(info.ListOmits, func(f string) bool { return prog.Uses(f) || slices.Contains(r.fields, f) })
	budget := s.budgetFor(in, r.budget)
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	next, err := s.scan(ctx, &scanJob{in: in, plan: plan, prog: prog, hydrate: hydrate, pageSize: pageSize, budget: budget, res: res, seen: cur.Seen, hits: cur.Hits}, cur)
	if err != nil {
		return nil, err
	}
	in.contacted(s.now())
	if next != nil {
		next.Instance, next.Query, next.PageSize, next.Now = in.Name, qhash, plan.PageSize, now
		next.Seen, next.Hits = cur.Seen+res.Scan.Scanned, cur.Hits+len(res.Incidents)
		res.HasMore = true
		res.NextCursor, err = s.sealer.Seal(cursorKind, next, 0, now)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
	}
	if len(res.Incidents) == 0 && !res.HasMore {
		res.Notes = append(res.Notes, emptyHint(res))
	}
	return res, nil
}

// scanJob is one list call's scan of one instance: what to read, how to
// check it, how much to return and spend, and where the page goes.
type scanJob struct {
	in       *instance
	plan     *driver.Plan
	prog     *filter.Program
	hydrate  bool // read each candidate in full: the filter uses a field lists omit
	pageSize int
	budget   Budget
	res      *QueryResult
	// seen and hits are the records earlier calls of this listing
	// scanned and found, from the cursor.
	seen, hits int
}

// expect is how many records the scan should read to find need more
// matches: need when every record the vendor selects matches; otherwise
// from the share that matched so far in this listing, with a margin; 0
// (all) when nothing matched yet.
func (j *scanJob) expect(need int) int {
	if everyRecordMatches(j.plan, j.prog) {
		return need
	}
	seen, hits := j.seen+j.res.Scan.Scanned, j.hits+len(j.res.Incidents)
	switch {
	case seen == 0:
		return 2 * need // a first guess; the rest of the page costs no request
	case hits == 0:
		return 0
	}
	return need*seen/hits + need/4 + 1
}

// scan reads upstream pages from cur's position, keeping matches, until the
// page is full, the data ends or the budget is spent. It returns the
// position to continue from, or nil when nothing is left.
//
// Every upstream request counts against the budget, the full reads of
// records (hydrate) as much as the pages: before each one the budget and the
// context are checked, and a spent budget stops the scan with a cursor that
// resumes at the very record it stopped on.
func (s *Service) scan(ctx context.Context, job *scanJob, cur cursor) (*cursor, error) {
	in, plan, prog, hydrate, pageSize, budget, res := job.in, job.plan, job.prog, job.hydrate, job.pageSize, job.budget, job.res
	start := time.Now()
	pos, skip := cur.Pos, cur.Offset
	at := func(p string, off int) *cursor { return &cursor{Pos: p, Offset: off} }
	// spent reports whether another upstream request would pass the
	// budget, and if so notes the stop.
	spent := func() bool {
		if res.Scan.Requests < budget.Requests && time.Since(start) < budget.Time && ctx.Err() == nil {
			return false
		}
		budgetStop(res, budget)
		return true
	}
	// A driver whose pages are larger than the answer normalizes only what
	// the answer is likely to take (and one more, which proves there is
	// more), and the rest of the page only if the scan gets there.
	prefix, _ := in.Driver.(driver.PrefixLister)
	if hydrate {
		prefix = nil
	}
	// While the matches are consecutive records of one page, the answer is
	// a window on that page's slice (run[from:to]), not a copy: a filter
	// the vendor applied exactly answers a whole page without copying a
	// record. The first match that breaks the run copies the window into
	// room for the whole answer.
	var run []schema.Incident
	from, to := 0, 0
	// done tells the driver the scan is finished with the page read last:
	// its body's buffer can serve the next answer.
	var done func()
	defer func() {
		if done != nil {
			done()
		}
	}()
	keep := func(records []schema.Incident, i int, inc *schema.Incident) {
		switch {
		case len(res.Incidents) == 0 && inc == &records[i]:
			run, from, to = records, i, i+1
		case run != nil && &records[0] == &run[0] && i == to && inc == &records[i]:
			to++
		default:
			if run != nil || cap(res.Incidents) == 0 {
				res.Incidents = append(make([]schema.Incident, 0, pageSize), res.Incidents...)
				run = nil
			}
			res.Incidents = append(res.Incidents, *inc)
			return
		}
		res.Incidents = run[from:to:to] // full: an append copies
	}
	for {
		if spent() {
			return at(pos, skip), nil
		}
		var page *driver.Page
		var err error
		if prefix != nil {
			n := 0 // the whole page
			if e := job.expect(pageSize + 1 - len(res.Incidents)); e > 0 {
				n = skip + e
			}
			page, err = prefix.ListPrefix(ctx, plan, pos, n)
		} else {
			page, err = in.Driver.List(ctx, plan, pos)
		}
		res.Scan.Requests++
		if err != nil {
			return s.partial(ctx, job, err, at(pos, skip))
		}
		if done != nil {
			done()
		}
		done = page.Done
		if s.log.Enabled(ctx, slog.LevelDebug) {
			// The vendor's request id is what its support asks for.
			s.log.DebugContext(ctx, "upstream page", "instance", in.Name, "request_id", page.RequestID, "bytes", page.RawBytes, "records", len(page.Incidents))
		}
		for _, w := range page.Warnings {
			res.Notes = append(res.Notes, in.Name+" warned: "+w)
		}
		if page.TotalKnown && res.Query.Exact && !hydrate {
			t := page.Total
			res.Total = &t
		}
		for i := skip; ; i++ {
			if i >= len(page.Incidents) {
				if page.Rest == nil {
					break
				}
				rest, err := page.Rest()
				if err != nil {
					return s.partial(ctx, job, err, at(pos, i))
				}
				page.Incidents, page.Unread, page.Rest = append(page.Incidents, rest...), 0, nil
				if i >= len(page.Incidents) {
					break
				}
			}
			if err := ctx.Err(); err != nil {
				return s.partial(ctx, job, err, at(pos, i))
			}
			inc := &page.Incidents[i]
			s.own(in, inc)
			if hydrate {
				if spent() {
					return at(pos, i), nil
				}
				full, err := in.Driver.Get(ctx, nativeID(inc.ID))
				res.Scan.Requests++
				if err != nil {
					return s.partial(ctx, job, err, at(pos, i))
				}
				s.own(in, full)
				full.Details = nil
				inc = full
			}
			res.Scan.Scanned++
			ok, err := prog.Match(ctx, inc)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if len(res.Incidents) == pageSize {
				// A further match proves there is more; resume right here.
				return at(pos, i), nil
			}
			inc.Raw = nil
			keep(page.Incidents, i, inc)
		}
		if page.Next == "" {
			return nil, nil
		}
		pos, skip = page.Next, 0
		if len(res.Incidents) == pageSize {
			return at(pos, 0), nil
		}
	}
}

// budgetStop notes that the call's budget ended the scan.
func budgetStop(res *QueryResult, budget Budget) {
	if res.Scan.BudgetReached {
		return
	}
	res.Scan.BudgetReached = true
	res.Notes = append(res.Notes, fmt.Sprintf("stopped after %d upstream requests and %d records scanned (the per-call budget of %d requests and %s); more may match: call again with next_cursor",
		res.Scan.Requests, res.Scan.Scanned, budget.Requests, budget.Time))
}

// partial turns an upstream failure into an error when nothing was found yet,
// or into a shortened page with a cursor to retry from, so that nothing
// already read is lost. A call whose deadline passed after it scanned some
// records is a budget stop: its cursor resumes where the time ran out.
func (s *Service) partial(ctx context.Context, job *scanJob, err error, retry *cursor) (*cursor, error) {
	in, budget, res := job.in, job.budget, job.res
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
	if timedOut && (res.Scan.Scanned > 0 || len(res.Incidents) > 0) {
		budgetStop(res, budget)
		return retry, nil
	}
	werr := s.wrap(in, "list incidents", err)
	if timedOut {
		werr = s.timeoutError(in, budget, "list incidents", "try again later, or narrow the filter so that fewer records are read", err)
	}
	if len(res.Incidents) == 0 {
		return nil, werr
	}
	res.Scan.Error = schema.PublicMessage(werr)
	res.Notes = append(res.Notes, fmt.Sprintf("stopped early: %s; call again with next_cursor to retry from where this page stopped", res.Scan.Error))
	return retry, nil
}

// timeoutError is the error of a call whose deadline passed before it had
// anything to answer.
func (s *Service) timeoutError(in *instance, budget Budget, op, hint string, err error) error {
	s.log.Warn("vendor call timed out", "instance", in.Name, "op", op, "budget", budget.Time, "err", err)
	return &schema.Error{
		Code: schema.CodeDeadlineExceeded,
		Msg:  fmt.Sprintf("%s on %s: %s did not answer within this call's time budget of %s; %s", op, in.Name, in.info.Vendor, budget.Time, hint),
		Err:  err,
	}
}

// own stamps an incident from a driver with its instance.
func (s *Service) own(in *instance, inc *schema.Incident) {
	if _, _, ok := schema.SplitID(inc.ID); !ok || !strings.HasPrefix(inc.ID, in.Name+":") {
		inc.ID = schema.JoinID(in.Name, inc.ID)
	}
	inc.Instance = in.Name
	inc.Vendor = in.info.Vendor
	// Vendor text is sanitized here, once, for every path that shows it.
	inc.Clean()
}

func nativeID(id string) string {
	_, n, _ := schema.SplitID(id)
	return n
}

// nativeCriteria keeps the ids of this instance, as native ids; when ids were
// given but none is of this instance, nothing can match.
func nativeCriteria(c schema.Criteria, instance string) schema.Criteria {
	if len(c.IDs) == 0 {
		return c
	}
	var ids []string
	for _, id := range c.IDs {
		if inst, n, _ := schema.SplitID(id); inst == instance {
			ids = append(ids, n)
		}
	}
	c.IDs = ids
	if len(ids) == 0 {
		c.Impossible = true
	}
	return c
}

// planPages plans q with upstream pages sized for what the call needs. When
// the vendor's selection is exact (and there is no `where`), every record
// is a match: page_size + 1 proves whether more follow. Otherwise the local
// check drops records, possibly most of them (a rare `where`): at least 100
// records per request keep a scan of a few thousand records within the
// request budget. A continued listing keeps the size it started with, since
// positions may count in pages.
func planPages(d driver.Driver, q driver.Query, pageSize, vendorMax int, prog *filter.Program, resumed bool, resumeSize int) (*driver.Plan, error) {
	if resumed {
		q.PageSize = resumeSize
		return d.Plan(q)
	}
	q.PageSize = min(max(5*pageSize, 100), vendorMax)
	plan, err := d.Plan(q)
	if err != nil || !everyRecordMatches(plan, prog) || q.PageSize == min(pageSize+1, vendorMax) {
		return plan, err
	}
	q.PageSize = min(pageSize+1, vendorMax)
	return d.Plan(q)
}

// everyRecordMatches reports whether each record plan selects passes the
// local check: the vendor's selection is exact and there is no `where`.
func everyRecordMatches(plan *driver.Plan, prog *filter.Program) bool {
	return plan.Exact && prog.Where == ""
}

func emptyHint(res *QueryResult) string {
	q := res.Query
	hint := "no incident matched."
	if len(q.Pushed) > 0 {
		hint += fmt.Sprintf(" The vendor applied %s;", strings.Join(q.Pushed, ", "))
	}
	hint += " try relaxing the narrowest argument (a shorter title_contains, a wider time window, fewer statuses or severities)"
	if q.Where != "" {
		hint += ", or check the `where` expression"
	}
	return hint + "."
}

// resolve splits an incident id into its configured instance and the
// vendor's native id, with one message for every tool that takes an id.
// An instance the caller may not read is answered as not configured, so
// that its incidents look like none at all.
func (s *Service) resolve(ctx context.Context, op, id string) (*instance, string, error) {
	visible := s.visible(ctx)
	name, native, ok := schema.SplitID(id)
	if !ok {
		example := "eset"
		if len(visible) > 0 {
			example = visible[0]
		}
		return nil, "", schema.ArgError("id", "%q is not an incident id; ids look like \"<instance>:<native id>\" (e.g. %q), as list_incidents returns them", id, example+":…")
	}
	in, ok := s.instances[name]
	if !ok {
		return nil, "", noInstance("id", name, visible, false)
	}
	if err := s.mayRead(ctx, op, "id", name, id, false); err != nil {
		return nil, "", err
	}
	return in, native, nil
}

// Get reads one incident in full. includeRaw adds the vendor's own record.
func (s *Service) Get(ctx context.Context, id string, includeRaw bool) (*schema.Incident, error) {
	in, native, err := s.resolve(ctx, "get", id)
	if err != nil {
		return nil, err
	}
	budget := s.budgetFor(in, Budget{})
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	inc, err := in.Driver.Get(ctx, native)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, s.timeoutError(in, budget, "get incident "+id, "try again later", err)
		}
		return nil, s.wrap(in, "get incident "+id, err)
	}
	s.own(in, inc)
	in.contacted(s.now())
	if !includeRaw {
		inc.Raw = nil
	}
	inc.Raw = schema.EscapeRaw(inc.Raw)
	return inc, nil
}

// wrap classifies a driver error once, with a message a model can act on.
func (s *Service) wrap(in *instance, op string, err error) error {
	if se, ok := errors.AsType[*schema.Error](err); ok {
		return se
	}
	code := in.Driver.ErrorCode(err)
	if errors.Is(err, context.DeadlineExceeded) {
		code = schema.CodeDeadlineExceeded
	}
	e := &schema.Error{Code: code, Msg: op + " on " + in.Name, Err: err, Ref: schema.NewRef()}
	if he, ok := errors.AsType[*driver.HTTPError](err); ok {
		e.RequestID = he.RequestID
	}
	s.log.Warn("vendor call failed", "instance", in.Name, "op", op, "code", code, "ref", e.Ref, "err", err)
	return e
}

// budgetFor is the budget of one call on in: the request's own (a fan-out
// share), else the instance's override, else the service's, field by field.
func (s *Service) budgetFor(in *instance, req Budget) Budget {
	b := s.budget
	for _, o := range []Budget{in.Budget, req} {
		if o.Requests > 0 {
			b.Requests = o.Requests
		}
		if o.Time > 0 {
			b.Time = o.Time
		}
	}
	return b
}

func (in *instance) contacted(t time.Time) { in.lastOK.Store(t.UnixNano()) }

// LastContact is when the instance's vendor last answered, zero if never.
func (in *instance) LastContact() time.Time {
	if n := in.lastOK.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}
