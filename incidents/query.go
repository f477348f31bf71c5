package incidents

import (
	"context"

	"github.com/incident-mcp/incident-mcp/schema"
)

// QueryRequest is a list question as the tool received it: a page of the
// matches of one instance or of several merged, or their counts.
type QueryRequest struct {
	// Instances are the instances to ask: none, or "*", is every instance
	// the caller may read.
	Instances []string
	Filter    schema.Filter
	Where     string
	OrderBy   string
	// PageSize is the matches per page, 0 for DefaultPageSize.
	PageSize int
	// Cursor continues the listing whose page returned it.
	Cursor  string
	Explain bool
	// CountBy asks for counts by these dimensions (CountDimensions)
	// instead of a page; non-nil, even empty, means a count (empty: the
	// total only).
	CountBy []string
}

// QueryResult answers a QueryRequest. Its JSON is the tool's output
// contract, and it has three shapes:
//   - one instance: a page, Query.Instance and Query.VendorPlan (how the
//     vendor was asked) and Scan;
//   - several instances: the merged page, Query.Instances and each
//     instance's status in Instances;
//   - a count: Total, Tally, Query.Instances and Instances, no page.
type QueryResult struct {
	// Incidents are the page's matches; nil for a count.
	Incidents []schema.Incident `json:"incidents,omitzero"`
	// Paging is where a listing stands; nil for a count.
	*Paging
	// Total is the number of matches: a listing's only when every count
	// it adds up is exact; a count's always (a lower bound unless Exact).
	Total *int `json:"total,omitempty"`
	// Tally is a count's answer; nil for a listing.
	*Tally
	Query AppliedQuery `json:"query"`
	// Scan is the upstream work of a one-instance listing; several
	// instances report theirs in Instances.
	Scan *ScanStats `json:"scan,omitempty"`
	// Instances says what each instance of a fan-out or a count did.
	Instances []InstanceStatus `json:"instances,omitempty"`
	Notes     []string         `json:"notes,omitempty"`
}

// Paging is where a listing stands after a page.
type Paging struct {
	NextCursor string `json:"next_cursor,omitempty"`
	// HasMore is true while records remain that the listing has not
	// examined, including an instance that failed and will be retried.
	HasMore bool `json:"has_more"`
}

// Tally is a count's answer besides its total.
type Tally struct {
	// Exact is true when every instance was scanned to the end (or its
	// vendor's count is exact); otherwise Total and every count are lower
	// bounds and Instances says how far each scan got.
	Exact bool `json:"exact"`
	// Counts maps each count_by dimension to its values' counts.
	Counts map[string]map[string]int `json:"counts,omitempty"`
}

// Query answers a list question: one page of the matches of the named
// instances (see selectNames), or their counts when r.CountBy is set. One
// instance is listed on its own, with its vendor's plan and a cursor of
// its own; several are asked at once and merged by r.OrderBy, and an
// instance that fails or runs out of budget does not fail the call.
func (s *Service) Query(ctx context.Context, r QueryRequest) (*QueryResult, error) {
	if r.CountBy != nil {
		names, err := s.selectNames(ctx, "count", r.Instances)
		if err != nil {
			return nil, err
		}
		return s.count(ctx, r, names)
	}
	names, err := s.selectNames(ctx, "list", r.Instances)
	if err != nil {
		return nil, err
	}
	pr := pageRequest{Filter: r.Filter, Where: r.Where, OrderBy: r.OrderBy, PageSize: r.PageSize, Cursor: r.Cursor, Explain: r.Explain}
	if len(names) == 1 {
		// A fan-out of one is that instance's own page.
		pr.Instance = names[0]
		return s.page(ctx, pr)
	}
	return s.fanOut(ctx, pr, names)
}
