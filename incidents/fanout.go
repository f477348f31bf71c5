package incidents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// Per-instance statuses of a list over several instances.
const (
	StatusOK            = "ok"
	StatusError         = "error"
	StatusBudgetReached = "budget_reached"
	// StatusUnsatisfiable: a filter names something this instance's
	// incidents never have (a tenant on ESET); it was not asked.
	StatusUnsatisfiable = "unsatisfiable"
	// StatusDone: an earlier page of this listing reached its end.
	StatusDone = "done"
)

// selectNames resolves the instance argument of op: none, or "*", means
// every instance the caller may read; names are checked and deduplicated,
// and a name the caller may not read is answered as not configured. The
// result is sorted.
func (s *Service) selectNames(ctx context.Context, op string, names []string) ([]string, error) {
	visible := s.visible(ctx)
	if len(visible) == 0 {
		return nil, noVisible()
	}
	if len(names) == 0 || slices.Contains(names, "*") {
		return visible, nil
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, ok := s.instances[n]; !ok {
			return nil, noInstance("instance", n, visible, true)
		}
		if err := s.mayRead(ctx, op, "instance", n, "", true); err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// InstanceStatus is what one instance did for a call over several.
type InstanceStatus struct {
	Instance string `json:"instance"`
	Vendor   string `json:"vendor"`
	Status   string `json:"status"`
	Message  string `json:"message,omitempty"`
	// Returned counts this instance's incidents on this page.
	Returned int  `json:"returned"`
	HasMore  bool `json:"has_more"`
	// Order is the order this instance's records come in, when it cannot
	// sort by the requested one.
	Order  string    `json:"order,omitempty"`
	Native any       `json:"native_request,omitempty"`
	Pushed []string  `json:"pushed,omitempty"`
	Scan   ScanStats `json:"scan"`
	Total  *int      `json:"total,omitempty"`
}

// manyCursor is the sealed position of a listing over several instances:
// for each instance, the single-instance position of the page being
// consumed and how many of that page's matches were already returned.
type manyCursor struct {
	Query string           `json:"q"`
	Now   time.Time        `json:"n"`
	Parts map[string]*part `json:"p"`
}

type part struct {
	// C is the position of the instance's current page; nil is its start.
	C *cursor `json:"c,omitempty"`
	// K matches of the page at C were already returned.
	K int `json:"k,omitempty"`
	// D is set when the instance has nothing more.
	D bool `json:"d,omitempty"`
}

const manyCursorKind = "cursor-many"

func manyHash(names []string, r *pageRequest) string {
	b, _ := json.Marshal(struct {
		I []string
		H string
	}{names, queryHash("*", r)})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// budgetShare splits an instance's call budget between the instances of a
// fan-out: the requests are shared, the time is not (they run at once).
func (s *Service) budgetShare(in *instance, n int) Budget {
	b := s.budgetFor(in, Budget{})
	b.Requests = max(2, (b.Requests+n-1)/n)
	return b
}

// one is one instance's answer within a fan-out.
type one struct {
	name string
	in   *instance
	prev *part
	res  *QueryResult
	err  error
	// cand are the matches this call may return: the page minus what
	// earlier calls already returned.
	cand []schema.Incident
	used int
}

// fanOut returns one page of the incidents matching r over several
// instances, each asked for its page at once and merged by r.OrderBy. An
// instance that fails or runs out of budget does not fail the call: its
// status says so and the cursor retries it.
func (s *Service) fanOut(ctx context.Context, r pageRequest, names []string) (*QueryResult, error) {
	pageSize, order, err := r.shape()
	if err != nil {
		return nil, err
	}
	qhash := manyHash(names, &r)
	now := s.now().UTC().Truncate(time.Second)
	cur := manyCursor{Parts: map[string]*part{}}
	if r.Cursor != "" {
		if err := s.sealer.Open(manyCursorKind, r.Cursor, now, &cur); err != nil {
			var single cursor
			if s.sealer.Open(cursorKind, r.Cursor, now, &single) == nil {
				return nil, schema.ArgError("cursor", "this cursor continues a listing of %s alone, not of several instances: repeat that call's instance argument with the cursor, or leave cursor out to list %s from the first page", single.Instance, strings.Join(names, ", "))
			}
			return nil, schema.ArgError("cursor", "this cursor is not valid (%v); pass next_cursor exactly as a previous list_incidents call returned it, or leave cursor out to start from the first page", err)
		}
		if cur.Query != qhash {
			return nil, schema.ArgError("cursor", "this cursor belongs to a different query; repeat the exact filter, where, order_by and instance of the call that returned it, or leave cursor out to start over")
		}
		now = cur.Now
	}
	// Validate once, so that a bad filter is one error, not one per instance.
	prog, err := s.lang.Compile(r.Filter, r.Where, now)
	if err != nil {
		return nil, err
	}
	res := &QueryResult{Incidents: []schema.Incident{}, Paging: &Paging{}, Query: AppliedQuery{
		Instances: names, Filter: prog.Criteria, Where: prog.Where, Now: now, OrderBy: order.String(), Sorted: true,
	}}

	ones := make([]*one, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		o := &one{name: name, in: s.instances[name], prev: cur.Parts[name]}
		if o.prev == nil {
			o.prev = &part{}
		}
		ones[i] = o
		if o.prev.D {
			continue
		}
		wg.Go(func() {
			req := r
			req.Instance, req.Cursor, req.now = name, "", now
			req.PageSize = min(MaxPageSize, o.prev.K+pageSize)
			req.budget = s.budgetShare(o.in, len(names))
			if o.prev.C != nil {
				if req.Cursor, o.err = s.sealer.Seal(cursorKind, o.prev.C, 0, now); o.err != nil {
					return
				}
			}
			o.res, o.err = s.page(ctx, req)
			if o.err == nil && len(o.res.Incidents) > o.prev.K {
				o.cand = o.res.Incidents[o.prev.K:]
			}
		})
	}
	wg.Wait()
	if r.Explain {
		for _, o := range ones {
			st := status(o)
			if o.res != nil {
				st.Status = "explain"
			}
			res.Instances = append(res.Instances, st)
			res.Query.Sorted = res.Query.Sorted && (o.res == nil || o.res.Query.Sorted)
		}
		res.Notes = append(res.Notes, "explain: the plans only; no vendor was called")
		return res, nil
	}

	s.merge(ones, order, pageSize, res)

	next := manyCursor{Query: qhash, Now: now, Parts: map[string]*part{}}
	total, exact := 0, true
	for _, o := range ones {
		st := status(o)
		p := s.advance(o)
		next.Parts[o.name] = p
		st.HasMore = !p.D
		res.HasMore = res.HasMore || !p.D
		if o.res != nil && !o.res.Query.Sorted && len(o.cand) > 0 {
			res.Query.Sorted = false
		}
		if st.Total != nil {
			total += *st.Total
		} else {
			exact = false
		}
		res.Instances = append(res.Instances, st)
	}
	if exact && r.Cursor == "" { // totals come with first pages only
		res.Total = &total
	}
	if res.HasMore {
		res.NextCursor, err = s.sealer.Seal(manyCursorKind, next, 0, now)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
	}
	res.Notes = append(res.Notes, manyNotes(ones, order)...)
	return res, nil
}

// merge fills res with up to pageSize candidates in order. An instance that
// is sorted and has more than it returned holds the merge back once its
// candidates run out, since its next record may come first; an instance
// that failed does not, so the others still answer.
func (s *Service) merge(ones []*one, order schema.Order, pageSize int, res *QueryResult) {
	for len(res.Incidents) < pageSize {
		var best *one
		for _, o := range ones {
			if o.used == len(o.cand) {
				if o.res != nil && o.res.HasMore && o.res.Query.Sorted && o.res.Scan.Error == "" {
					return
				}
				continue
			}
			if best == nil || order.Compare(&o.cand[o.used], &best.cand[best.used]) < 0 {
				best = o
			}
		}
		if best == nil {
			return
		}
		res.Incidents = append(res.Incidents, best.cand[best.used])
		best.used++
	}
}

// advance is an instance's position after this call.
func (s *Service) advance(o *one) *part {
	switch {
	case o.prev.D:
		return o.prev
	case o.err != nil && !transient(o.err):
		return &part{D: true} // retrying cannot help (a refused argument, credentials)
	case o.err != nil || o.res == nil:
		return o.prev // retry from the same place
	case o.used < len(o.cand):
		return &part{C: o.prev.C, K: o.prev.K + o.used}
	case !o.res.HasMore:
		return &part{D: true}
	}
	var c cursor
	if err := s.sealer.Open(cursorKind, o.res.NextCursor, o.res.Query.Now, &c); err != nil {
		return o.prev // cannot happen: this service sealed it
	}
	return &part{C: &c}
}

func status(o *one) InstanceStatus {
	st := InstanceStatus{Instance: o.name, Vendor: o.in.info.Vendor, Status: StatusOK, Returned: o.used}
	switch {
	case o.prev.D:
		st.Status = StatusDone
		return st
	case o.err != nil:
		st.Status, st.Message = StatusError, schema.PublicMessage(o.err)
		return st
	}
	q := o.res.Query
	st.Native, st.Pushed, st.Scan = q.Native, q.Pushed, *o.res.Scan
	if !q.Sorted {
		st.Order = q.Order
	}
	switch {
	case q.Unsatisfiable != "":
		st.Status, st.Message = StatusUnsatisfiable, q.Unsatisfiable
	case o.res.Scan.Error != "":
		st.Status, st.Message = StatusError, o.res.Scan.Error
	case o.res.Scan.BudgetReached:
		st.Status = StatusBudgetReached
		st.Message = fmt.Sprintf("stopped after %d upstream requests (this instance's share of the call budget); the cursor continues it", o.res.Scan.Requests)
	}
	if o.res.Total != nil && o.prev.C == nil {
		t := *o.res.Total
		st.Total = &t
	}
	return st
}

func manyNotes(ones []*one, order schema.Order) []string {
	var notes []string
	for _, o := range ones {
		switch {
		case o.err != nil && transient(o.err):
			notes = append(notes, fmt.Sprintf("%s failed: %v; its incidents are missing from this page, and next_cursor retries it", o.name, o.err))
		case o.err != nil:
			notes = append(notes, fmt.Sprintf("%s failed: %v; retrying will not help, so it is left out of this listing", o.name, o.err))
		case o.res == nil:
		case o.res.Query.Unsatisfiable != "":
			notes = append(notes, fmt.Sprintf("%s was not asked: %s", o.name, o.res.Query.Unsatisfiable))
		case !o.res.Query.Sorted && len(o.cand) > 0:
			notes = append(notes, fmt.Sprintf("%s cannot sort by %s; its incidents are merged in the order it returns them (%s)", o.name, order, o.res.Query.Order))
		}
	}
	return notes
}

// transient reports whether a failed instance may answer if asked again.
func transient(err error) bool {
	switch schema.CodeOf(err) {
	case schema.CodeRateLimited, schema.CodeUnavailable, schema.CodeDeadlineExceeded, schema.CodeInternal:
		return true
	}
	return false
}
