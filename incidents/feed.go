package incidents

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
)

// The change feed: list_incidents with changed_since returns the incidents
// created or updated after a watermark, in update order, and the next
// watermark. Following watermarks never misses a change nor repeats one:
//
//   - A watermark is sealed like a cursor and holds, per instance, the
//     position of the last change returned: its updated_at and its id, the
//     tie-break between changes of one instant.
//   - Each call reads, per instance, every incident updated since the
//     position less an overlap, in an order in which an incident updated
//     during the read can only move to where the read has been already
//     (updated_at newest first, or creation order), and re-checks each
//     record locally. A read that does not reach the end within the call's
//     budget returns nothing for that instance and keeps its position.
//   - Only changes up to the read's start less FeedSettle are returned:
//     a write that lands during the read has a later time and comes with
//     the next call, and the settle covers vendors that stamp times to the
//     second and clocks that disagree by a little.
//   - Changes after the position are returned in (updated_at, instance, id)
//     order. Changes inside the overlap but at or before the position (a
//     write that became visible late with an earlier time) are returned too
//     unless the watermark's short list of what it returned in the overlap
//     holds them.
//
// An incident changed several times between two calls is returned once, in
// its latest state: the feed reports changed incidents, not each write.
const (
	// FeedSettle is how long a change waits before the feed returns it.
	FeedSettle = 2 * time.Second
	// FeedOverlap is how far before its position each read starts again.
	FeedOverlap = FeedSettle + time.Second
	// feedSeen bounds the returned changes a watermark remembers inside the
	// overlap; older ones are covered by the position alone.
	feedSeen = 64
	// feedPages bounds the list calls per instance per feed call.
	feedPages      = 50
	watermarkKind  = "watermark"
	defaultFeedMax = 100
)

// FeedRequest asks for the changes since a watermark.
type FeedRequest struct {
	// Instances to follow; none means every instance. A watermark is bound
	// to the instances it was made for.
	Instances []string
	// Since is a watermark a previous call returned, or a time (RFC 3339,
	// date, or an age like "1h") to start from.
	Since    string
	PageSize int
}

// FeedResult is one batch of changes.
type FeedResult struct {
	Incidents []schema.Incident `json:"incidents"`
	// Watermark continues after the last change returned; pass it as
	// changed_since next time, even when there were none.
	Watermark string `json:"watermark"`
	// HasMore is true when changes are waiting: call again at once.
	HasMore   bool             `json:"has_more"`
	Instances []InstanceStatus `json:"instances"`
	// Through is the time up to which changes were considered: later ones
	// come with a later call.
	Through time.Time `json:"through"`
	Notes   []string  `json:"notes,omitempty"`
}

// watermark is the sealed state of a feed.
type watermark struct {
	Names []string            `json:"n"`
	Pos   map[string]*feedPos `json:"p"`
}

// feedPos is one instance's position.
type feedPos struct {
	T  time.Time `json:"t"`
	ID string    `json:"i,omitempty"`
	// Floor: late changes at or before the position are returned only
	// after it (the remembered ones end there).
	Floor time.Time `json:"f,omitzero"`
	// Seen are the changes returned inside the overlap, as hashes.
	Seen []seenChange `json:"s,omitempty"`
}

type seenChange struct {
	T time.Time `json:"t"`
	H uint32    `json:"h"`
}

func changeHash(id string, t time.Time) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s@%d", id, t.UnixNano())
	return h.Sum32()
}

func (p *feedPos) saw(id string, t time.Time) bool {
	h := changeHash(id, t)
	return slices.ContainsFunc(p.Seen, func(s seenChange) bool { return s.H == h && s.T.Equal(t) })
}

// after reports whether (t, id) comes after the position.
func (p *feedPos) after(t time.Time, id string) bool {
	return cmp.Or(t.Compare(p.T), strings.Compare(id, p.ID)) > 0
}

// Feed returns the changes since r.Since across the instances, oldest
// change first, at most r.PageSize of them, and the watermark to continue.
func (s *Service) Feed(ctx context.Context, r FeedRequest) (*FeedResult, error) {
	pageSize := cmp.Or(r.PageSize, defaultFeedMax)
	if pageSize < 1 || pageSize > MaxPageSize {
		return nil, schema.ArgError("page_size", "must be between 1 and %d, got %d", MaxPageSize, pageSize)
	}
	names, err := s.selectNames(ctx, "list", r.Instances)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	wm, err := s.openWatermark(r.Since, names, now)
	if err != nil {
		return nil, err
	}
	// Changes up to through are final: anything written from now on has
	// a later time.
	through := now.Add(-FeedSettle)
	ctx, cancel := deadline(ctx, s.budget)
	defer cancel()
	scans := make([]feedScan, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { scans[i] = s.scanChanges(ctx, name, wm.Pos[name], through) })
	}
	wg.Wait()

	res := &FeedResult{Incidents: []schema.Incident{}, Through: through}
	var ready []feedChange
	for i, sc := range scans {
		res.Instances = append(res.Instances, sc.status)
		res.Notes = append(res.Notes, sc.notes...)
		if sc.status.Status != StatusOK {
			res.HasMore = true
			continue
		}
		pos := wm.Pos[names[i]]
		for _, inc := range sc.incs {
			t := inc.UpdatedAt
			switch {
			case t.After(through):
			case pos.after(t, inc.ID):
				ready = append(ready, feedChange{names[i], inc})
			case t.After(pos.Floor) && !t.Before(pos.T.Add(-FeedOverlap)) && !pos.saw(inc.ID, t):
				// Visible late with an earlier time: not returned yet.
				ready = append(ready, feedChange{names[i], inc})
			}
		}
	}
	slices.SortFunc(ready, func(a, b feedChange) int {
		return cmp.Or(a.inc.UpdatedAt.Compare(b.inc.UpdatedAt), strings.Compare(a.instance, b.instance), strings.Compare(a.inc.ID, b.inc.ID))
	})
	if len(ready) > pageSize {
		ready, res.HasMore = ready[:pageSize], true
	}
	for _, c := range ready {
		pos := wm.Pos[c.instance]
		if pos.after(c.inc.UpdatedAt, c.inc.ID) {
			pos.T, pos.ID = c.inc.UpdatedAt, c.inc.ID
		}
		pos.Seen = append(pos.Seen, seenChange{T: c.inc.UpdatedAt, H: changeHash(c.inc.ID, c.inc.UpdatedAt)})
		res.Incidents = append(res.Incidents, c.inc)
	}
	for _, pos := range wm.Pos {
		pos.trim()
	}
	for i := range res.Instances {
		st := &res.Instances[i]
		st.Returned = 0
		for _, c := range ready {
			if c.instance == st.Instance {
				st.Returned++
			}
		}
	}
	res.Watermark, err = s.sealer.Seal(watermarkKind, wm, 0, now)
	if err != nil {
		return nil, fmt.Errorf("change feed: %w", err)
	}
	return res, nil
}

// trim keeps the remembered changes inside the overlap, at most feedSeen
// of them; the floor moves past the ones it forgets.
func (p *feedPos) trim() {
	slices.SortFunc(p.Seen, func(a, b seenChange) int { return a.T.Compare(b.T) })
	keep := p.Seen[:0]
	for _, sc := range p.Seen {
		if sc.T.Before(p.T.Add(-FeedOverlap)) {
			continue
		}
		keep = append(keep, sc)
	}
	if n := len(keep); n > feedSeen {
		p.Floor = keep[n-feedSeen-1].T
		keep = keep[n-feedSeen:]
	}
	p.Seen = keep
}

type feedChange struct {
	instance string
	inc      schema.Incident
}

type feedScan struct {
	incs   []schema.Incident
	status InstanceStatus
	notes  []string
}

// scanChanges reads every incident of one instance updated since the
// position less the overlap, newest change first, keeping per incident its
// latest version read.
func (s *Service) scanChanges(ctx context.Context, name string, pos *feedPos, through time.Time) feedScan {
	in := s.instances[name]
	sc := feedScan{status: InstanceStatus{Instance: name, Vendor: in.info.Vendor, Status: StatusOK}}
	from := pos.T.Add(-FeedOverlap)
	if !pos.Floor.IsZero() && pos.Floor.After(from) {
		from = pos.Floor
	}
	lr := pageRequest{Instance: name, Filter: schema.Filter{UpdatedAfter: from.Format(time.RFC3339Nano)}, OrderBy: "updated_at desc", PageSize: MaxPageSize}
	byID := map[string]int{}
	for page := 0; ; page++ {
		if page == feedPages {
			sc.status.Status, sc.status.HasMore = StatusBudgetReached, true
			sc.notes = append(sc.notes, fmt.Sprintf("%s: more than %d pages of changes; this instance's watermark did not move: call again", name, feedPages))
			return sc
		}
		res, err := s.page(ctx, lr)
		if err != nil {
			sc.status.Status, sc.status.Message, sc.status.HasMore = StatusError, schema.PublicMessage(err), true
			sc.notes = append(sc.notes, name+": its changes were not read; its watermark did not move")
			return sc
		}
		sc.status.Scan.Requests += res.Scan.Requests
		sc.status.Scan.Scanned += res.Scan.Scanned
		if res.Scan.BudgetReached || res.Scan.Error != "" {
			sc.status.Status, sc.status.HasMore = StatusBudgetReached, true
			sc.notes = append(sc.notes, name+": the call's budget ran out before every change was read; its watermark did not move: call again")
			return sc
		}
		for _, inc := range res.Incidents {
			if i, ok := byID[inc.ID]; ok {
				// Read twice while it moved: keep the later version.
				if inc.UpdatedAt.After(sc.incs[i].UpdatedAt) {
					sc.incs[i] = inc
				}
				continue
			}
			byID[inc.ID] = len(sc.incs)
			sc.incs = append(sc.incs, inc)
		}
		if !res.HasMore {
			return sc
		}
		lr.Cursor = res.NextCursor
	}
}

// openWatermark reads changed_since: a watermark for these instances, or
// a time to start every instance from.
func (s *Service) openWatermark(since string, names []string, now time.Time) (*watermark, error) {
	since = strings.TrimSpace(since)
	if since == "" {
		return nil, schema.ArgError("changed_since", "required: a watermark a previous call returned, or a time to start from (RFC 3339, a date, or an age like \"1h\")")
	}
	wm := &watermark{}
	if err := s.sealer.Open(watermarkKind, since, now, wm); err == nil {
		if !slices.Equal(wm.Names, names) {
			return nil, schema.ArgError("changed_since", "this watermark follows instances %s, not %s: pass the same instance argument as the call that returned it", strings.Join(wm.Names, ", "), strings.Join(names, ", "))
		}
		for _, n := range names {
			if wm.Pos[n] == nil {
				return nil, schema.ArgError("changed_since", "this watermark has no position for %s", n)
			}
		}
		return wm, nil
	}
	start, err := schema.ParseTime(since, now)
	if err != nil {
		return nil, schema.ArgError("changed_since", "neither a watermark from a previous call nor a time (%v); pass the watermark exactly as returned, or a time like \"1h\" or \"2026-11-20T08:00:00Z\"", err)
	}
	wm = &watermark{Names: names, Pos: map[string]*feedPos{}}
	for _, n := range names {
		// Changes at start itself count: the position is just before it.
		wm.Pos[n] = &feedPos{T: start.Add(-time.Nanosecond), ID: "\xff", Floor: start.Add(-time.Nanosecond)}
	}
	return wm, nil
}
