package schema

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Incident is one security incident in the normalized model. Fields a vendor
// does not report stay empty and are omitted from JSON: the model never
// invents a value.
type Incident struct {
	// ID is "<instance>:<native id>", globally unique; get and update take it.
	ID string `json:"id"`
	// Instance and Vendor are left out of list results (the id and the
	// query echo carry them); get_incident always has them.
	Instance string `json:"instance,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	// Number is the short human id where a vendor has one.
	Number      string `json:"number,omitempty"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`

	Severity       Severity   `json:"severity,omitempty"`
	VendorSeverity string     `json:"vendor_severity,omitempty"`
	Status         Status     `json:"status,omitempty"`
	VendorStatus   string     `json:"vendor_status,omitempty"`
	Resolution     Resolution `json:"resolution,omitempty"`
	Priority       string     `json:"priority,omitempty"`
	Assignee       *Ref       `json:"assignee,omitempty"`

	CreatedAt       time.Time `json:"created_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`
	StatusChangedAt time.Time `json:"status_changed_at,omitzero"`

	Tags         []string `json:"tags,omitempty"`
	Devices      []Ref    `json:"devices,omitempty"`
	Users        []Ref    `json:"users,omitempty"`
	Policy       *Ref     `json:"policy,omitempty"`
	Counts       *Counts  `json:"counts,omitempty"`
	DetectionIDs []string `json:"detection_ids,omitempty"`
	AlertIDs     []string `json:"alert_ids,omitempty"`
	Mitre        *Mitre   `json:"mitre,omitempty"`

	// Details holds vendor extras worth showing on get; lists leave it out.
	Details map[string]any `json:"details,omitempty"`
	// Raw is the vendor's own record, only when the caller asks for it.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Ref names a related object: an assignee, device, user or policy.
type Ref struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Counts are the sizes a vendor reports for an incident.
type Counts struct {
	Devices     *int64 `json:"devices,omitempty"`
	Detections  *int64 `json:"detections,omitempty"`
	Alerts      *int64 `json:"alerts,omitempty"`
	Processes   *int64 `json:"processes,omitempty"`
	Executables *int64 `json:"executables,omitempty"`
}

// Mitre lists ATT&CK tactic and technique ids (TA0001, T1059.001).
type Mitre struct {
	Tactics    []string `json:"tactics,omitempty"`
	Techniques []string `json:"techniques,omitempty"`
}

// Severity is the normalized severity. Its order (informational < low <
// medium < high < critical) is what `min_severity` and `>=` in filters use.
type Severity string

// Severities, lowest first.
const (
	SeverityInformational Severity = "informational"
	SeverityLow           Severity = "low"
	SeverityMedium        Severity = "medium"
	SeverityHigh          Severity = "high"
	SeverityCritical      Severity = "critical"
)

// Severities lists every severity in ascending order.
var Severities = []Severity{SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities from 1 (informational) to 5 (critical); an unknown
// or empty severity ranks 0, below every known one.
func (s Severity) Rank() int64 {
	return int64(slices.Index(Severities, s) + 1)
}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// Status is the normalized lifecycle state.
type Status string

// Statuses.
const (
	StatusOpen       Status = "open"
	StatusInProgress Status = "in_progress"
	StatusOnHold     Status = "on_hold"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusOpen, StatusInProgress, StatusOnHold, StatusResolved, StatusClosed}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Resolution says why an incident was closed: one of Resolutions, or a
// vendor's own close reason that has no normalized equivalent, kept
// verbatim. A driver declares the verbatim values its incidents can carry
// (driver.Info.Resolutions); the filter language accepts those of the
// configured vendors beside the normalized ones.
type Resolution string

// Normalized resolutions.
const (
	ResolutionTruePositive  Resolution = "true_positive"
	ResolutionFalsePositive Resolution = "false_positive"
	ResolutionSuspicious    Resolution = "suspicious"
	ResolutionLowPriority   Resolution = "low_priority"
	ResolutionMerged        Resolution = "merged"
)

// Resolutions lists the normalized resolutions. Vendors' own values are
// not among them: each driver declares its own.
var Resolutions = []Resolution{ResolutionTruePositive, ResolutionFalsePositive, ResolutionSuspicious, ResolutionLowPriority, ResolutionMerged}

// Normalized reports whether r is one of Resolutions.
func (r Resolution) Normalized() bool { return slices.Contains(Resolutions, r) }

// ParseSeverity accepts a severity name in any case.
func ParseSeverity(s string) (Severity, bool) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	return v, v.Valid()
}

// ParseStatus accepts a status name in any case, with "-" or " " for "_".
func ParseStatus(s string) (Status, bool) {
	v := Status(statusSeparators.Replace(strings.ToLower(strings.TrimSpace(s))))
	return v, v.Valid()
}

var statusSeparators = strings.NewReplacer("-", "_", " ", "_")

// SplitID splits "<instance>:<native id>". Native ids may contain colons;
// instance names may not.
func SplitID(id string) (instance, native string, ok bool) {
	instance, native, ok = strings.Cut(id, ":")
	return instance, native, ok && instance != "" && native != ""
}

// JoinID is the inverse of SplitID.
func JoinID(instance, native string) string { return instance + ":" + native }
