package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Bounds of the sections get_incident includes.
const (
	DefaultSectionLimit = 10
	MaxSectionLimit     = 50
)

// DetailRequest is a get_incident call with the sections it includes.
type DetailRequest struct {
	ID         string
	IncludeRaw bool
	// Include names the sections to read beyond the summary.
	Include []driver.Section
	// Limit is the most items per section (DefaultSectionLimit when 0).
	Limit int
}

// Detail is an incident with the sections asked for.
type Detail struct {
	*schema.Incident
	Comments *SectionResult[schema.Comment]  `json:"comments,omitempty"`
	History  *SectionResult[schema.Change]   `json:"history,omitempty"`
	Evidence *SectionResult[schema.Evidence] `json:"evidence,omitempty"`
	// Entities are the hosts, users, hashes, addresses and techniques the
	// incident and its evidence name, in one shape across vendors.
	Entities []schema.Entity `json:"entities,omitempty"`
}

// SectionResult is one included section: its items, bounded, and whether
// the vendor holds more; or why it could not be read.
type SectionResult[T any] struct {
	Items   []T  `json:"items"`
	HasMore bool `json:"has_more"`
	// Unavailable says why the section is empty: this vendor does not keep
	// it, the call's budget ran out, or the vendor failed.
	Unavailable string `json:"unavailable,omitempty"`
}

// ParseSections reads the include argument.
func ParseSections(names []string) ([]driver.Section, error) {
	var out []driver.Section
	for _, n := range names {
		s := driver.Section(strings.ToLower(strings.TrimSpace(n)))
		if !slices.Contains(driver.AllSections, s) {
			return nil, schema.ArgError("include", "unknown section %q; valid sections are comments, history, evidence", n)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Detail reads one incident in full with the sections r includes, within
// the call's budget: the incident first, then each section, each with its
// own bound and has_more. A section the vendor does not keep, or that the
// budget or a vendor failure left unread, says so instead of failing the
// call: the incident already read is never lost.
func (s *Service) Detail(ctx context.Context, r DetailRequest) (*Detail, error) {
	limit := r.Limit
	switch {
	case limit == 0:
		limit = DefaultSectionLimit
	case limit < 1 || limit > MaxSectionLimit:
		return nil, schema.ArgError("limit", "must be between 1 and %d items per section, got %d", MaxSectionLimit, limit)
	}
	in, native, err := s.resolve(ctx, "get", r.ID)
	if err != nil {
		return nil, err
	}
	budget := s.budgetFor(in, Budget{})
	start := time.Now()
	ctx, cancel := deadline(ctx, budget)
	defer cancel()
	inc, err := in.Driver.Get(ctx, native)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, s.timeoutError(in, budget, "get incident "+r.ID, "try again later", err)
		}
		return nil, s.wrap(in, "get incident "+r.ID, err)
	}
	in.contacted(s.now())
	// Readers take the incident as the driver returned it: native id, Raw.
	vendorInc := *inc
	vendorInc.ID = native
	requests := 1
	spent := func() string {
		if requests >= budget.Requests || time.Since(start) >= budget.Time || ctx.Err() != nil {
			return fmt.Sprintf("not read: the call's budget (%d requests, %s) was spent; call get_incident again with only this section", budget.Requests, budget.Time)
		}
		return ""
	}
	d := &Detail{Incident: inc}
	for _, sec := range r.Include {
		if !slices.Contains(in.info.Sections, sec) || !driver.Reads(in.Driver, sec) {
			why := fmt.Sprintf("%s keeps no %s that its API serves", in.info.Vendor, sec)
			switch sec {
			case driver.SectionComments:
				d.Comments = &SectionResult[schema.Comment]{Items: []schema.Comment{}, Unavailable: why}
			case driver.SectionHistory:
				d.History = &SectionResult[schema.Change]{Items: []schema.Change{}, Unavailable: why}
			case driver.SectionEvidence:
				d.Evidence = &SectionResult[schema.Evidence]{Items: []schema.Evidence{}, Unavailable: why}
			}
			continue
		}
		switch sec {
		case driver.SectionComments:
			d.Comments = readSection(s, ctx, in, r.ID, sec, spent, &requests, func() (*driver.Items[schema.Comment], error) {
				return in.Driver.(driver.CommentReader).Comments(ctx, &vendorInc, limit)
			})
		case driver.SectionHistory:
			d.History = readSection(s, ctx, in, r.ID, sec, spent, &requests, func() (*driver.Items[schema.Change], error) {
				return in.Driver.(driver.HistoryReader).History(ctx, &vendorInc, limit)
			})
		case driver.SectionEvidence:
			d.Evidence = readSection(s, ctx, in, r.ID, sec, spent, &requests, func() (*driver.Items[schema.Evidence], error) {
				return in.Driver.(driver.EvidenceReader).Evidence(ctx, &vendorInc, limit)
			})
		}
	}
	s.own(in, inc)
	if !r.IncludeRaw {
		inc.Raw = nil
	}
	d.Entities = schema.Entities(inc)
	if d.Evidence != nil {
		for _, e := range d.Evidence.Items {
			named := e.Also
			if e.Entity != nil {
				named = append([]schema.Entity{*e.Entity}, named...)
			}
			for _, n := range named {
				d.Entities = mergeEntity(d.Entities, n, inc.Vendor)
			}
		}
	}
	return d, nil
}

// readSection reads one section unless the budget is spent, turning a
// failure into the section's Unavailable note.
func readSection[T any](s *Service, ctx context.Context, in *instance, id string, sec driver.Section, spent func() string, requests *int, read func() (*driver.Items[T], error)) *SectionResult[T] {
	if why := spent(); why != "" {
		return &SectionResult[T]{Items: []T{}, Unavailable: why}
	}
	items, err := read()
	if err != nil {
		*requests++
		werr := s.wrap(in, fmt.Sprintf("read %s of %s", sec, id), err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &SectionResult[T]{Items: []T{}, Unavailable: "not read: the call's time budget ran out; call get_incident again with only this section"}
		}
		code := schema.CodeInternal
		if se, ok := errors.AsType[*schema.Error](werr); ok {
			code = se.Code
		}
		return &SectionResult[T]{Items: []T{}, Unavailable: fmt.Sprintf("not read (%s): %s; the incident above was read", code, schema.PublicMessage(werr))}
	}
	*requests += items.Requests
	out := &SectionResult[T]{Items: items.Items, HasMore: items.HasMore}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out
}

// mergeEntity adds e to list unless an entity there is the same one (a key
// in common), in which case that one gains the name or id it lacked: ESET
// incidents name devices by uuid, their detections add the host names.
func mergeEntity(list []schema.Entity, e schema.Entity, vendor string) []schema.Entity {
	keys := schema.EntityKeys(e, vendor)
	for i := range list {
		o := &list[i]
		if o.Kind != e.Kind || !slices.ContainsFunc(schema.EntityKeys(*o, vendor), func(k string) bool { return slices.Contains(keys, k) }) {
			continue
		}
		if o.Name == "" {
			o.Name = e.Name
		}
		if o.ID == "" {
			o.ID = e.ID
		}
		return list
	}
	return append(list, e)
}
