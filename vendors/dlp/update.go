package dlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// PatchRequest is the body of PATCH {prefix}/incidents/{id}. A nil field is
// not sent; an empty AssignedTo unassigns (the tolerant reading: the vendor
// does not document unassigning, unverified).
type PatchRequest struct {
	Status      *string `json:"status,omitempty"`
	CloseReason *string `json:"close_reason,omitempty"`
	CloseNote   *string `json:"close_note,omitempty"`
	AssignedTo  *string `json:"assigned_to,omitempty"`
}

// closeReasonsHint lists what a resolution can be, for error messages.
var closeReasonsHint = `true_positive (DLP "valid"), false_positive ("invalid_data_mislabled"), or DLP's own invalid_destination_not_risk, invalid_user_exempt, invalid_other`

// maxNote caps close_note. DLP documents no limit (unverified): this is the
// tolerant choice.
const maxNote = 4096

// DLP's close reasons that no normalized resolution means, kept verbatim
// (resolutionFromDLP says why each): DLP's own resolutions, which its
// incidents carry and a close takes.
const (
	ResolutionDestinationNotRisk schema.Resolution = "invalid_destination_not_risk"
	ResolutionUserExempt         schema.Resolution = "invalid_user_exempt"
	ResolutionInvalidOther       schema.Resolution = "invalid_other"
)

// ownResolutions are DLP's own resolutions, for driver.Info.Resolutions.
var ownResolutions = []schema.Resolution{ResolutionDestinationNotRisk, ResolutionUserExempt, ResolutionInvalidOther}

// writeInfo describes DLP's write values for the tool description.
var writeInfo = driver.WriteInfo{
	Resolutions: append([]schema.Resolution{schema.ResolutionTruePositive, schema.ResolutionFalsePositive}, ownResolutions...),
	Assignee:    "an analyst's e-mail address (like soc@company.com); \"\" unassigns",
	Comment:     "kept only on a closed incident, as its close note: send it when closing, or on an incident already closed",
	MaxText:     maxNote,
}

// updates lists what PATCH can change.
var updates = []schema.PatchField{schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchResolution, schema.PatchComment}

// CheckPatch implements driver.Driver: the values PATCH takes, and the
// vendor's rule that a close reason and note exist only on a closed
// incident.
func (d *Driver) CheckPatch(cur *schema.Incident, p schema.Patch) error {
	r, err := patchRequest(p)
	if err != nil {
		return err
	}
	result := cur.Status
	if p.Status != nil {
		result = *p.Status
	}
	if (r.CloseReason != nil || r.CloseNote != nil) && result != schema.StatusClosed {
		arg := "comment"
		if r.CloseReason != nil {
			arg = "resolution"
		}
		return schema.ArgError(arg, "DLP keeps a resolution and a comment (close note) only on closed incidents; this one is %s: close it with status \"closed\" and a resolution in the same change", cur.Status)
	}
	return nil
}

// patchRequest translates a normalized patch, refusing before any write
// what DLP cannot do and what it would refuse.
func patchRequest(p schema.Patch) (*PatchRequest, error) {
	if err := wire.Unsupported(p, updates, "DLP", "its API updates only status (open or closed), resolution (close_reason), comment (close_note) and assignee (assigned_to)"); err != nil {
		return nil, err
	}
	var r PatchRequest
	if p.Status != nil {
		var s string
		switch *p.Status {
		case schema.StatusOpen:
			s = "open"
		case schema.StatusClosed:
			s = "closed"
		default:
			return nil, schema.Errorf(schema.CodeUnsupported, "DLP cannot set status %q: its API only opens (reopens) or closes incidents", *p.Status)
		}
		r.Status = &s
	}
	if p.Resolution != nil {
		reason, ok := resolutionToDLP[*p.Resolution]
		if !ok && slices.Contains(CloseReasons, string(*p.Resolution)) {
			reason, ok = string(*p.Resolution), true
		}
		if !ok {
			e := schema.Errorf(schema.CodeUnsupported, "DLP has no close reason for resolution %q; use %s", *p.Resolution, closeReasonsHint)
			e.Arg = "resolution"
			return nil, e
		}
		r.CloseReason = &reason
	}
	if p.Comment != nil {
		if err := wire.CheckText("comment", p.Comment, maxNote); err != nil {
			return nil, err
		}
		r.CloseNote = p.Comment
	}
	if p.Assignee != nil {
		a := strings.TrimSpace(*p.Assignee)
		if a != "" && !validEmail(a) {
			return nil, schema.ArgError("assignee", "DLP assigns incidents to an analyst's e-mail address (like soc@company.com), not %q", a)
		}
		r.AssignedTo = &a
	}
	switch {
	case r == (PatchRequest{}):
		return nil, schema.ArgError("patch", "nothing to change")
	case r.Status != nil && *r.Status == "closed" && r.CloseReason == nil:
		return nil, schema.ArgError("resolution", "closing a DLP incident needs a resolution: %s", closeReasonsHint)
	case r.Status != nil && *r.Status == "open" && (r.CloseReason != nil || r.CloseNote != nil):
		// DLP keeps reason and note only on closed incidents and forgets
		// them on reopening.
		return nil, schema.Errorf(schema.CodeUnsupported, "DLP keeps a resolution and a comment (close_note) only on closed incidents; reopen without them")
	}
	return &r, nil
}

// validEmail accepts what DLP takes as an analyst: a bare address (no
// display name or angle brackets) with a dotted domain, at most 254 bytes.
func validEmail(v string) bool {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v || len(v) > 254 || strings.ContainsAny(v, " \t\r\n") {
		return false
	}
	_, domain, _ := strings.Cut(v, "@")
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// Update implements driver.Driver: one PATCH with every change. The vendor
// refuses close_note and close_reason on an incident that is not closed and
// stays closed; its message says so.
func (d *Driver) Update(ctx context.Context, nativeID string, patch schema.Patch) (*driver.UpdateResult, error) {
	body, err := patchRequest(patch)
	if err != nil {
		return nil, err
	}
	seg, err := idShape.Segment(nativeID)
	if err != nil {
		return nil, err
	}
	path := d.c.prefix + "/incidents/" + seg
	step := driver.Step{Call: "PATCH " + path + " " + describe(body)}
	wctx, trace := wire.TraceWrite(ctx)
	resp, err := d.c.do(wctx, http.MethodPatch, path, body, false)
	err = trace.Outcome(err)
	if err != nil {
		step.Error = err.Error()
		if he, ok := errors.AsType[*driver.HTTPError](err); ok {
			step.RequestID = he.RequestID
		}
		return &driver.UpdateResult{Steps: []driver.Step{step}}, err
	}
	step.OK, step.RequestID = true, resp.requestID
	res := &driver.UpdateResult{Steps: []driver.Step{step}}
	var lr listResponse
	if json.Unmarshal(resp.body, &lr) == nil && len(lr.Resources) > 0 {
		var w wireIncident
		if json.Unmarshal(lr.Resources[0], &w) == nil && w.ID != "" {
			inc := normalize(&w, false)
			res.Incident = &inc
		}
	}
	return res, nil
}

// describe names the fields a PATCH sets, with the enum values; free text
// (the note) is named, not repeated.
func describe(r *PatchRequest) string {
	var parts []string
	if r.Status != nil {
		parts = append(parts, "status="+*r.Status)
	}
	if r.CloseReason != nil {
		parts = append(parts, "close_reason="+*r.CloseReason)
	}
	if r.CloseNote != nil {
		parts = append(parts, "close_note")
	}
	if r.AssignedTo != nil {
		parts = append(parts, fmt.Sprintf("assigned_to=%q", *r.AssignedTo))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
