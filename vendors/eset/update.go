package eset

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// updatable lists what ESET's API can change: basic attributes through
// basic-attributes:update, status through :close and :reopen, and comments.
// There is no endpoint for in_progress or on_hold, and tags are read-only.
var updatable = []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchResolution, schema.PatchComment}

// Length caps on free text. ESET does not document them (unverified): these
// are the tolerant choice, below what its console accepts.
const (
	maxTitle = 256
	maxText  = 4096
)

// writeInfo describes ESET's write values for the tool description.
var writeInfo = driver.WriteInfo{
	Resolutions: []schema.Resolution{schema.ResolutionTruePositive, schema.ResolutionFalsePositive, schema.ResolutionSuspicious},
	Assignee:    "an ESET user UUID (like 5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60); \"\" unassigns, only while the incident is open",
	Comment:     "added to the incident's comments; with a close it is the final comment, with a reopen the reopening comment",
	MaxTitle:    maxTitle,
	MaxText:     maxText,
}

// CheckPatch implements driver.Driver with ESET's value and state rules.
func (d *Driver) CheckPatch(cur *schema.Incident, p schema.Patch) error {
	if err := checkValues(p); err != nil {
		return err
	}
	if p.Status != nil && *p.Status == schema.StatusOpen && cur.Status == schema.StatusOpen {
		return schema.Errorf(schema.CodeFailedPrecondition, "the incident is already open")
	}
	if p.Status != nil && *p.Status == schema.StatusClosed && cur.Status == schema.StatusClosed {
		return schema.Errorf(schema.CodeFailedPrecondition, "the incident is already closed")
	}
	if p.Assignee != nil && *p.Assignee == "" {
		// basic-attributes:update runs before a close or reopen, so the
		// rule applies to the status the incident has when it runs.
		if cur.Status != schema.StatusOpen {
			return schema.ArgError("assignee", "ESET allows removing the assignee only while the incident is open (it is %s)", cur.Status)
		}
	}
	return nil
}

// checkValues refuses values ESET has no equivalent for.
func checkValues(p schema.Patch) error {
	if err := wire.Unsupported(p, updatable, "ESET", "its API changes title, description, severity, assignee, closes, reopens and comments"); err != nil {
		return err
	}
	if p.Severity != nil {
		if _, ok := severityToESET[*p.Severity]; !ok {
			return schema.ArgError("severity", "ESET has severities low, medium and high only")
		}
	}
	if p.Status != nil && *p.Status != schema.StatusOpen && *p.Status != schema.StatusClosed {
		return schema.Errorf(schema.CodeUnsupported, "ESET can only close or reopen an incident (status closed or open); it has no call to set %s", *p.Status)
	}
	closing := p.Status != nil && *p.Status == schema.StatusClosed
	if closing && p.Resolution == nil {
		return schema.ArgError("resolution", "ESET needs a resolution to close an incident: true_positive, false_positive or suspicious")
	}
	if p.Resolution != nil {
		if !closing {
			return schema.ArgError("resolution", "ESET sets a resolution only when closing: add status \"closed\"")
		}
		if _, ok := resolutionToESET[*p.Resolution]; !ok {
			return schema.ArgError("resolution", "ESET closes with true_positive, false_positive or suspicious, not %q", *p.Resolution)
		}
	}
	if p.Title != nil && strings.TrimSpace(*p.Title) == "" {
		return schema.ArgError("title", "ESET requires a title; it cannot be empty")
	}
	if p.Assignee != nil && *p.Assignee != "" && !wire.IsUUID(*p.Assignee) {
		return schema.ArgError("assignee", "ESET assigns to a user UUID (like 5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60), not %q; \"\" unassigns", *p.Assignee)
	}
	if p.Comment != nil && strings.TrimSpace(*p.Comment) == "" && p.Status == nil {
		return schema.ArgError("comment", "an empty comment adds nothing; leave comment out or write one")
	}
	return errors.Join(wire.CheckText("title", p.Title, maxTitle), wire.CheckText("description", p.Description, maxText), wire.CheckText("comment", p.Comment, maxText))
}

// idShape is ESET's incident id: its OpenAPI declares every {uuid} path
// parameter "format: uuid, maxLength: 100", and a UUID is one path segment
// with no ':' (which would name a custom verb) and no '/'.
var idShape = wire.IDShape{Vendor: "ESET", Describe: "UUIDs (like 5f2b9a43-0d5c-4a8e-9f6e-3b1c2d4e5f60)", Valid: wire.IsUUID}

type basicAttributes struct {
	AssigneeUUID string `json:"assigneeUuid,omitempty"`
	Description  string `json:"description,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
	Severity     string `json:"severity,omitempty"`
	UpdateMask   string `json:"updateMask"`
}

type commentBody struct {
	Text string `json:"text"`
}

// Update implements driver.Driver: basic attributes first (one call with an
// updateMask of exactly the changed fields), then close or reopen, or a
// comment on its own. It stops at the first failure and reports which calls
// succeeded. The read-back afterwards is not a step: it returns the new
// state when it can.
func (d *Driver) Update(ctx context.Context, nativeID string, p schema.Patch) (*driver.UpdateResult, error) {
	if err := checkValues(p); err != nil {
		return nil, err
	}
	seg, err := idShape.Segment(nativeID)
	if err != nil {
		return nil, err
	}
	closing := p.Status != nil && *p.Status == schema.StatusClosed
	base := "/v2/incidents/" + seg
	res := &driver.UpdateResult{}
	call := func(name, path string, body any) error {
		wctx, trace := wire.TraceWrite(ctx)
		resp, err := d.c.do(wctx, http.MethodPost, path, nil, body)
		err = trace.Outcome(err)
		step := driver.Step{Call: name, OK: err == nil}
		if resp != nil {
			step.RequestID = resp.requestID
		}
		if he, ok := errors.AsType[*driver.HTTPError](err); ok {
			step.RequestID = he.RequestID
		}
		if err != nil {
			step.Error = err.Error()
		}
		res.Steps = append(res.Steps, step)
		return err
	}

	var attrs basicAttributes
	var mask []string
	if p.Title != nil {
		attrs.DisplayName, mask = *p.Title, append(mask, "displayName")
	}
	if p.Description != nil {
		attrs.Description, mask = *p.Description, append(mask, "description")
	}
	if p.Severity != nil {
		attrs.Severity, mask = severityToESET[*p.Severity], append(mask, "severity")
	}
	if p.Assignee != nil {
		attrs.AssigneeUUID, mask = *p.Assignee, append(mask, "assigneeUuid")
	}
	if len(mask) > 0 {
		attrs.UpdateMask = strings.Join(mask, ",")
		if err := call("basic-attributes:update ("+attrs.UpdateMask+")", base+"/basic-attributes:update", attrs); err != nil {
			return res, err
		}
	}
	comment := ""
	if p.Comment != nil {
		comment = *p.Comment
	}
	switch {
	case closing:
		body := map[string]any{"closureReason": resolutionToESET[*p.Resolution]}
		if comment != "" {
			body["finalComment"] = commentBody{comment}
		}
		if err := call(":close", base+":close", body); err != nil {
			return res, err
		}
	case p.Status != nil && *p.Status == schema.StatusOpen:
		body := map[string]any{}
		if comment != "" {
			body["comment"] = commentBody{comment}
		}
		if err := call(":reopen", base+":reopen", body); err != nil {
			return res, err
		}
	case comment != "":
		if err := call("comments", base+"/comments", map[string]any{"comment": commentBody{comment}}); err != nil {
			return res, err
		}
	}
	after, err := d.Get(ctx, nativeID)
	if err == nil {
		res.Incident = after
	}
	return res, nil
}
