package schema

// Patch is a proposed change to one incident. A nil field is left alone.
type Patch struct {
	Title       *string   `json:"title,omitempty"`
	Description *string   `json:"description,omitempty"`
	Severity    *Severity `json:"severity,omitempty"`
	// Assignee is a vendor user id; "" removes the assignee.
	Assignee   *string     `json:"assignee,omitempty"`
	Status     *Status     `json:"status,omitempty"`
	Resolution *Resolution `json:"resolution,omitempty"`
	Comment    *string     `json:"comment,omitempty"`
}

// PatchField names one field of a Patch, as capabilities and diffs list them.
type PatchField string

// Patch fields.
const (
	PatchTitle       PatchField = "title"
	PatchDescription PatchField = "description"
	PatchSeverity    PatchField = "severity"
	PatchAssignee    PatchField = "assignee"
	PatchClose       PatchField = "close"
	PatchReopen      PatchField = "reopen"
	PatchResolution  PatchField = "resolution"
	PatchComment     PatchField = "comment"
)
