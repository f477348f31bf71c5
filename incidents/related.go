package incidents

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Related incidents: bounds.
const (
	// DefaultRelatedWindow is how far before and after the incident's
	// creation related incidents are looked for.
	DefaultRelatedWindow = 72 * time.Hour
	MaxRelatedWindow     = 30 * 24 * time.Hour
	// relatedPages bounds the listing pages (over every instance at once)
	// one related_to call reads; each is a fan-out within the call budget.
	relatedPages = 3
	relatedPage  = 100
)

// relatedWhere makes a listing read devices and users: a vendor that
// sends them only when asked (Kaspersky's withAffected) sends them, and
// one whose lists omit them (ESET) reads each candidate in full, within
// the budget. It holds for every incident.
const relatedWhere = `incident.devices.size() >= 0 && incident.users.size() >= 0`

// RelatedRequest asks for the incidents sharing an entity with one.
type RelatedRequest struct {
	ID string
	// Instances to look in; none means every instance.
	Instances []string
	// Within is the window on each side of the incident's creation
	// (DefaultRelatedWindow when 0).
	Within time.Duration
	// PageSize is the most related incidents returned (DefaultPageSize).
	PageSize int
}

// RelatedResult is the incidents related to one, the closest first.
type RelatedResult struct {
	// Of is the incident they relate to, and the entities it names.
	Of       string          `json:"related_to"`
	Entities []schema.Entity `json:"entities"`
	// From and To bound the creation times searched.
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Incidents []RelatedIncident `json:"incidents"`
	// HasMore is true when an instance was not read to the end of the
	// window (budget, failure) or more related incidents than PageSize
	// were found.
	HasMore   bool             `json:"has_more"`
	Scanned   int              `json:"scanned"`
	Instances []InstanceStatus `json:"instances"`
	Notes     []string         `json:"notes,omitempty"`
}

// RelatedIncident is one related incident and what it shares.
type RelatedIncident struct {
	schema.Incident
	// Shared are the entities it shares with the incident, as it names
	// them, hosts and users first.
	Shared []schema.Entity `json:"shared"`
}

// entityRank orders kinds by how strongly a shared one relates two
// incidents: the same host or person first.
var entityRank = map[string]int{schema.EntityHost: 0, schema.EntityUser: 1, schema.EntityHash: 2, schema.EntityIP: 3, schema.EntityTechnique: 4}

// Related finds, across the instances r names (every one by default), the
// incidents created within r.Within of the incident r.ID that share a host,
// user, hash, address or technique with it, ranked: more shared hosts and
// users first, then any shared entity, then the closest in time. The
// incident's entities come from its record and its evidence (ESET names
// hosts and users only in detections).
func (s *Service) Related(ctx context.Context, r RelatedRequest) (*RelatedResult, error) {
	within := cmp.Or(r.Within, DefaultRelatedWindow)
	if within < 0 || within > MaxRelatedWindow {
		return nil, schema.ArgError("related_within", "must be a duration up to %s, got %s", MaxRelatedWindow, within)
	}
	pageSize := cmp.Or(r.PageSize, DefaultPageSize)
	if pageSize < 1 || pageSize > MaxPageSize {
		return nil, schema.ArgError("page_size", "must be between 1 and %d, got %d", MaxPageSize, pageSize)
	}
	names, err := s.selectNames(ctx, "list", r.Instances)
	if err != nil {
		return nil, err
	}
	// The whole call, the incident and every instance's pages, ends within
	// the service's time budget.
	ctx, cancel := deadline(ctx, s.budget)
	defer cancel()
	target, err := s.Detail(ctx, DetailRequest{ID: r.ID, Include: []driver.Section{driver.SectionEvidence}, Limit: MaxSectionLimit})
	if err != nil {
		return nil, err
	}
	res := &RelatedResult{Of: target.ID, Entities: target.Entities, Incidents: []RelatedIncident{}}
	if target.CreatedAt.IsZero() {
		return nil, schema.Errorf(schema.CodeFailedPrecondition, "%s has no creation time to search around", r.ID)
	}
	if target.Evidence != nil && target.Evidence.Unavailable != "" && slices.Contains(target.info(s).Sections, driver.SectionEvidence) {
		res.Notes = append(res.Notes, "the incident's evidence was not read ("+target.Evidence.Unavailable+"); only its own fields were matched")
	}
	if len(res.Entities) == 0 {
		res.Notes = append(res.Notes, "the incident names no host, user, hash, address or technique: nothing to relate by")
		return res, nil
	}
	keys := map[string]schema.Entity{}
	for _, e := range res.Entities {
		for _, k := range schema.EntityKeys(e, target.Vendor) {
			keys[k] = e
		}
	}
	res.From, res.To = target.CreatedAt.Add(-within).UTC(), target.CreatedAt.Add(within).UTC()
	lr := pageRequest{
		Filter: schema.Filter{CreatedAfter: res.From.Format(time.RFC3339Nano), CreatedBefore: res.To.Format(time.RFC3339Nano)},
		Where:  relatedWhere, PageSize: relatedPage,
	}
	// Each instance is read on its own, at once: a merged listing would
	// hold every vendor to the pace of the slowest (ESET reads each
	// candidate in full).
	parts := make([]relatedPart, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { parts[i] = s.relatedIn(ctx, name, lr, target.ID, keys) })
	}
	wg.Wait()
	var found []RelatedIncident
	for _, p := range parts {
		found = append(found, p.found...)
		res.Instances = append(res.Instances, p.status)
		res.Scanned += p.status.Scan.Scanned
		res.Notes = append(res.Notes, p.notes...)
	}
	slices.SortStableFunc(found, func(a, b RelatedIncident) int {
		return cmp.Or(
			cmp.Compare(strongShared(b.Shared), strongShared(a.Shared)),
			cmp.Compare(len(b.Shared), len(a.Shared)),
			cmp.Compare(absDuration(a.CreatedAt.Sub(target.CreatedAt)), absDuration(b.CreatedAt.Sub(target.CreatedAt))),
			strings.Compare(a.ID, b.ID))
	})
	if len(found) > pageSize {
		found, res.HasMore = found[:pageSize], true
		res.Notes = append(res.Notes, fmt.Sprintf("more than %d related incidents; the strongest are shown: raise page_size or narrow related_within", pageSize))
	}
	res.Incidents = append(res.Incidents, found...)
	for _, st := range res.Instances {
		if st.HasMore || st.Status == StatusError || st.Status == StatusBudgetReached {
			res.HasMore = true
		}
	}
	return res, nil
}

// info is the driver.Info of the detail's instance.
func (d *Detail) info(s *Service) driver.Info {
	if in, ok := s.instances[d.Instance]; ok {
		return in.info
	}
	return driver.Info{}
}

// sharedWith lists the entities of inc that meet one of keys, hosts and
// users first.
func sharedWith(inc *schema.Incident, keys map[string]schema.Entity) []schema.Entity {
	var out []schema.Entity
	for _, e := range schema.Entities(inc) {
		if slices.ContainsFunc(schema.EntityKeys(e, inc.Vendor), func(k string) bool { _, ok := keys[k]; return ok }) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b schema.Entity) int { return cmp.Compare(entityRank[a.Kind], entityRank[b.Kind]) })
	return out
}

func strongShared(es []schema.Entity) int {
	n := 0
	for _, e := range es {
		if e.Kind == schema.EntityHost || e.Kind == schema.EntityUser {
			n++
		}
	}
	return n
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

type relatedPart struct {
	found  []RelatedIncident
	status InstanceStatus
	notes  []string
}

// relatedIn reads the window on one instance, up to relatedPages pages,
// keeping the incidents that share a key.
func (s *Service) relatedIn(ctx context.Context, name string, lr pageRequest, of string, keys map[string]schema.Entity) relatedPart {
	in := s.instances[name]
	p := relatedPart{status: InstanceStatus{Instance: name, Vendor: in.info.Vendor, Status: StatusOK}}
	lr.Instance = name
	for page := 0; page < relatedPages; page++ {
		res, err := s.page(ctx, lr)
		if err != nil {
			p.status.Status, p.status.Message, p.status.HasMore = StatusError, schema.PublicMessage(err), true
			return p
		}
		p.status.Scan.Requests += res.Scan.Requests
		p.status.Scan.Scanned += res.Scan.Scanned
		for i := range res.Incidents {
			inc := &res.Incidents[i]
			if inc.ID == of {
				continue
			}
			if shared := sharedWith(inc, keys); len(shared) > 0 {
				inc.Raw, inc.Details = nil, nil
				p.found = append(p.found, RelatedIncident{Incident: *inc, Shared: shared})
				p.status.Returned++
			}
		}
		if res.Scan.Error != "" {
			p.notes = append(p.notes, name+": stopped early: "+res.Scan.Error)
		}
		if !res.HasMore {
			return p
		}
		if res.Scan.BudgetReached {
			p.status.Status = StatusBudgetReached
		}
		if res.Scan.BudgetReached || res.Scan.Error != "" {
			p.status.HasMore = true
			p.notes = append(p.notes, fmt.Sprintf("%s: the call's budget ran out after %d records of the window; narrow related_within or instance to see the rest", name, p.status.Scan.Scanned))
			return p
		}
		lr.Cursor = res.NextCursor
	}
	p.status.HasMore = true
	p.notes = append(p.notes, fmt.Sprintf("%s: read %d pages of the window and stopped; narrow related_within or instance to see the rest", name, relatedPages))
	return p
}
