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

// Fields lists the changes p makes, in a fixed order: a status of closed is
// PatchClose, any other status PatchReopen.
func (p Patch) Fields() []PatchField {
	var out []PatchField
	add := func(set bool, f PatchField) {
		if set {
			out = append(out, f)
		}
	}
	closing := p.Status != nil && *p.Status == StatusClosed
	add(p.Title != nil, PatchTitle)
	add(p.Description != nil, PatchDescription)
	add(p.Severity != nil, PatchSeverity)
	add(p.Assignee != nil, PatchAssignee)
	add(closing, PatchClose)
	add(p.Status != nil && !closing, PatchReopen)
	add(p.Resolution != nil, PatchResolution)
	add(p.Comment != nil, PatchComment)
	return out
}

// FieldChange is one field of a proposed change: its value now and after the
// write, as previews, approvals and audit records show it.
type FieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from,omitempty"`
	To    any    `json:"to"`
}
