package eset

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// updatable lists what ESET's API can change: basic attributes through
// basic-attributes:update, status through :close and :reopen, and comments.
// There is no endpoint for in_progress or on_hold, and tags are read-only.
var updatable = []schema.PatchField{schema.PatchTitle, schema.PatchDescription, schema.PatchSeverity, schema.PatchAssignee, schema.PatchClose, schema.PatchReopen, schema.PatchResolution, schema.PatchComment}

// CheckPatch implements driver.PatchChecker with ESET's rules.
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
		status := cur.Status
		if p.Status != nil {
			status = *p.Status
		}
		if status != schema.StatusOpen {
			return schema.ArgError("assignee", "ESET allows removing the assignee only while the incident is open")
		}
	}
	return nil
}

// checkValues refuses values ESET has no equivalent for.
func checkValues(p schema.Patch) error {
	if p.Severity != nil {
		if _, ok := severityToESET[*p.Severity]; !ok {
			return schema.ArgError("severity", "ESET has severities low, medium and high only")
		}
	}
	if p.Status != nil && *p.Status != schema.StatusOpen && *p.Status != schema.StatusClosed {
		return schema.Errorf(schema.CodeUnsupported, "ESET can only close or reopen an incident (status closed or open); it has no call to set %s", *p.Status)
	}
	if p.Resolution != nil {
		if _, ok := resolutionToESET[*p.Resolution]; !ok {
			return schema.ArgError("resolution", "ESET closes with true_positive, false_positive or suspicious")
		}
	}
	return nil
}

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
// succeeded.
func (d *Driver) Update(ctx context.Context, nativeID string, p schema.Patch) (*driver.UpdateResult, error) {
	if err := checkValues(p); err != nil {
		return nil, err
	}
	closing := p.Status != nil && *p.Status == schema.StatusClosed
	if closing && p.Resolution == nil {
		return nil, schema.ArgError("resolution", "ESET needs a resolution to close an incident")
	}
	base := "/v2/incidents/" + url.PathEscape(nativeID)
	res := &driver.UpdateResult{}
	call := func(name, path string, body any) error {
		resp, err := d.c.do(ctx, http.MethodPost, path, nil, body)
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
