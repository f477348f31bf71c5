package dlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
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

// patchRequest translates a normalized patch, refusing before any write
// what DLP cannot do and what it would refuse.
func patchRequest(p schema.Patch) (*PatchRequest, error) {
	var ro []string
	if p.Title != nil {
		ro = append(ro, "title")
	}
	if p.Description != nil {
		ro = append(ro, "description")
	}
	if p.Severity != nil {
		ro = append(ro, "severity")
	}
	if len(ro) > 0 {
		return nil, schema.Errorf(schema.CodeUnsupported,
			"DLP cannot change %s: its API updates only status (open or closed), resolution (close_reason), comment (close_note) and assignee (assigned_to)",
			strings.Join(ro, ", "))
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
			return nil, schema.Errorf(schema.CodeUnsupported, "DLP has no close reason for resolution %q; use %s", *p.Resolution, closeReasonsHint)
		}
		r.CloseReason = &reason
	}
	if p.Comment != nil {
		r.CloseNote = p.Comment
	}
	if p.Assignee != nil {
		a := strings.TrimSpace(*p.Assignee)
		if a != "" {
			if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
				return nil, schema.ArgError("assignee", "DLP assigns incidents to an analyst's e-mail address (like soc@company.com), not %q", a)
			}
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

// Update implements driver.Driver: one PATCH with every change. The vendor
// refuses close_note and close_reason on an incident that is not closed and
// stays closed; its message says so.
func (d *Driver) Update(ctx context.Context, nativeID string, patch schema.Patch) (*driver.UpdateResult, error) {
	body, err := patchRequest(patch)
	if err != nil {
		return nil, err
	}
	if nativeID == "" {
		return nil, schema.Errorf(schema.CodeNotFound, "an empty DLP incident id names no incident")
	}
	path := d.c.prefix + "/incidents/" + url.PathEscape(nativeID)
	step := driver.Step{Call: "PATCH " + path + " " + describe(body)}
	resp, err := d.c.do(ctx, http.MethodPatch, path, body, false)
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
