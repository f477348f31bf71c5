package dlp

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// The mapping between Cyberhaven's values and the normalized ones: the one
// place it lives.
//
//	normalized      ← DLP
//	id              ← id
//	title           ← title
//	description     ← description
//	severity        ← severity (informational, low, medium, high, critical: 1:1)
//	status          ← status (open, investigating → in_progress, resolved, closed;
//	                  nothing maps to on_hold)
//	vendor_severity ← severity, vendor_status ← status (verbatim)
//	policy          ← {id: policy_id, name: policy_name}
//	devices         ← [{id: endpoint_id, name: endpoint_name}]
//	users           ← [{id: user_id, name: user_name}]
//	tags            ← tags
//	created_at      ← created_at, updated_at ← updated_at (UTC)
//	assignee        ← {id: assigned_to} (an analyst e-mail, what updates take)
//	resolution      ← close_reason, see resolutionFromDLP
//	details (get)   ← details (file_path, action, risk_score, …) plus
//	                  close_reason and close_note verbatim
//	raw (get)       ← the vendor's record
var (
	severityFromDLP = map[string]schema.Severity{
		"informational": schema.SeverityInformational,
		"low":           schema.SeverityLow,
		"medium":        schema.SeverityMedium,
		"high":          schema.SeverityHigh,
		"critical":      schema.SeverityCritical,
	}
	statusFromDLP = map[string]schema.Status{
		"open":          schema.StatusOpen,
		"investigating": schema.StatusInProgress,
		"resolved":      schema.StatusResolved,
		"closed":        schema.StatusClosed,
	}
	// resolutionFromDLP maps the close reasons that mean what a normalized
	// resolution means; the others are kept verbatim (DESIGN §3):
	//   valid                        → true_positive: a real violation.
	//   invalid_data_mislabled       → false_positive: the classifier was
	//                                  wrong about the data, so the detection was.
	//   invalid_destination_not_risk → verbatim: the data did move; the
	//                                  destination is sanctioned. A benign true
	//                                  positive, which no normalized value says.
	//   invalid_user_exempt          → verbatim: right detection, exempt user.
	//   invalid_other                → verbatim: it gives no reason.
	// ("mislabled" is the API's own spelling.)
	resolutionFromDLP = map[string]schema.Resolution{
		"valid":                  schema.ResolutionTruePositive,
		"invalid_data_mislabled": schema.ResolutionFalsePositive,
	}
	severityToDLP   = wire.Invert(severityFromDLP)
	statusToDLP     = wire.Invert(statusFromDLP)
	resolutionToDLP = wire.Invert(resolutionFromDLP)
)

// The vendor's values in its own order: filters list them in this order.
var (
	dlpSeverities = []string{"informational", "low", "medium", "high", "critical"}
	dlpStatuses   = []string{"open", "investigating", "resolved", "closed"}
	// CloseReasons are the values PATCH takes for close_reason.
	CloseReasons = []string{"valid", "invalid_data_mislabled", "invalid_destination_not_risk", "invalid_user_exempt", "invalid_other"}
)

// listOmits are the normalized fields only include_details would carry.
// Details feed no normalized field a filter reads (they are extras shown on
// get), so lists omit nothing and never need a full read per record.
var listOmits []string

// wireIncident is the vendor's Incident object (seed 003, plus the fields
// PATCH sets).
type wireIncident struct {
	ID           string         `json:"id"`
	Title        string         `json:"title"`
	Description  string         `json:"description"`
	Severity     string         `json:"severity"`
	Status       string         `json:"status"`
	PolicyID     string         `json:"policy_id"`
	PolicyName   string         `json:"policy_name"`
	EndpointID   string         `json:"endpoint_id"`
	EndpointName string         `json:"endpoint_name"`
	UserID       string         `json:"user_id"`
	UserName     string         `json:"user_name"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	Tags         []string       `json:"tags"`
	AssignedTo   string         `json:"assigned_to"`
	CloseReason  string         `json:"close_reason"`
	CloseNote    string         `json:"close_note"`
	Details      map[string]any `json:"details"`
}

// listResponse is the list envelope; PATCH answers in it too.
type listResponse struct {
	Resources  []json.RawMessage `json:"resources"`
	Size       int               `json:"size"`
	NextPageID string            `json:"next_page_id"`
	TotalCount *int              `json:"total_count"`
	Errors     []apiError        `json:"errors"`
}

// pageWire is the list envelope as List decodes it, in one pass: records
// straight into their wire form, their details skipped (only get shows them).
type pageWire struct {
	Resources  []summaryWire `json:"resources"`
	NextPageID string        `json:"next_page_id"`
	TotalCount *int          `json:"total_count"`
	Errors     []apiError    `json:"errors"`
}

// summaryWire is a record without its details: the shallower Details
// field takes "details" and ignores it.
type summaryWire struct {
	wireIncident
	Details skipped `json:"details"`
}

type skipped struct{}

func (*skipped) UnmarshalJSON([]byte) error { return nil }

// normalize maps a DLP record onto the normalized model. full is set on get,
// which shows the details.
func normalize(w *wireIncident, full bool) schema.Incident {
	inc := schema.Incident{
		ID:             w.ID,
		Vendor:         Vendor,
		Title:          w.Title,
		Description:    w.Description,
		Severity:       severityFromDLP[w.Severity],
		VendorSeverity: w.Severity,
		Status:         statusFromDLP[w.Status],
		VendorStatus:   w.Status,
		Resolution:     resolutionFrom(w.CloseReason),
		CreatedAt:      parseTime(w.CreatedAt),
		UpdatedAt:      parseTime(w.UpdatedAt),
		Tags:           w.Tags,
	}
	if len(inc.Tags) == 0 {
		inc.Tags = nil
	}
	// The policy, device, user and assignee share one allocation: a record
	// cost one for each.
	refs := new([4]schema.Ref)
	if w.PolicyID != "" || w.PolicyName != "" {
		refs[0] = schema.Ref{ID: w.PolicyID, Name: w.PolicyName}
		inc.Policy = &refs[0]
	}
	if w.EndpointID != "" || w.EndpointName != "" {
		refs[1] = schema.Ref{ID: w.EndpointID, Name: w.EndpointName}
		inc.Devices = refs[1:2:2]
	}
	if w.UserID != "" || w.UserName != "" {
		refs[2] = schema.Ref{ID: w.UserID, Name: w.UserName}
		inc.Users = refs[2:3:3]
	}
	if w.AssignedTo != "" {
		refs[3] = schema.Ref{ID: w.AssignedTo}
		inc.Assignee = &refs[3]
	}
	if full {
		d := maps.Clone(w.Details)
		if d == nil {
			d = map[string]any{}
		}
		// The lineage is evidence: get_incident shows it with include
		// evidence, not in every read.
		delete(d, "lineage")
		// The verbatim reason and the note have no normalized field; a
		// reader of one incident wants them.
		if w.CloseReason != "" {
			d["close_reason"] = w.CloseReason
		}
		if w.CloseNote != "" {
			d["close_note"] = w.CloseNote
		}
		if len(d) > 0 {
			inc.Details = d
		}
	}
	return inc
}

// resolutionFrom maps a close reason; one without a normalized equivalent
// is kept verbatim.
func resolutionFrom(reason string) schema.Resolution {
	if reason == "" {
		return ""
	}
	if r, ok := resolutionFromDLP[reason]; ok {
		return r
	}
	return schema.Resolution(reason)
}

// timeLayouts are the forms of "ISO 8601" read, most likely first; a time
// without a zone is taken as UTC.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
