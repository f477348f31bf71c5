package kaspersky

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// closeItem is one element of the close call's array body.
type closeItem struct {
	ID       string `json:"ID"`
	TenantID string `json:"TenantID"`
	Reason   string `json:"Reason"`
}

// allowedChange says, in every refusal, what Kaspersky's API can do.
const allowedChange = "Kaspersky's API can only close an incident with a resolution (true_positive, false_positive or low_priority)"

// writeInfo describes Kaspersky's one write for the tool description.
var writeInfo = driver.WriteInfo{
	Resolutions: []schema.Resolution{schema.ResolutionTruePositive, schema.ResolutionFalsePositive, schema.ResolutionLowPriority},
}

// CheckPatch implements driver.Driver: only a close with a reason the close
// call takes, of an incident not yet closed (the API cannot reopen or
// change a resolution).
func (d *Driver) CheckPatch(cur *schema.Incident, p schema.Patch) error {
	if _, err := closeReason(p); err != nil {
		return err
	}
	if cur.Status == schema.StatusClosed {
		return schema.Errorf(schema.CodeFailedPrecondition,
			"incident %s is already closed as %s; Kaspersky's API cannot reopen it or change its resolution", cur.ID, cur.Resolution)
	}
	return nil
}

// Update implements driver.Driver. The only write Kaspersky's REST API
// documents is POST /incidents/close; everything else is refused before any
// call. The close needs the incident's tenant, so the record is read first;
// it is read again afterwards to return the state the vendor now holds.
// Those reads are not steps: Steps holds the close call alone.
func (d *Driver) Update(ctx context.Context, nativeID string, patch schema.Patch) (*driver.UpdateResult, error) {
	reason, err := closeReason(patch)
	if err != nil {
		return nil, err
	}
	res := &driver.UpdateResult{}
	_, w, err := d.fetch(ctx, nativeID, false)
	if err != nil {
		return res, fmt.Errorf("read the incident's tenant before closing: %w", err)
	}
	if statusFromKaspersky[w.Status] == schema.StatusClosed {
		if w.Resolution == reason {
			// Closing again the same way changes nothing; no write needed.
			inc := normalize(w)
			res.Incident = &inc
			return res, nil
		}
		return res, schema.Errorf(schema.CodeFailedPrecondition,
			"incident %s is already closed as %s; Kaspersky's API cannot reopen it or change its resolution", nativeID, displayResolution(w.Resolution))
	}

	body := []closeItem{{ID: w.InternalID, TenantID: w.TenantID, Reason: reason}}
	wctx, trace := wire.TraceWrite(ctx)
	resp, err := d.c.do(wctx, http.MethodPost, pathClose, nil, body)
	err = trace.Outcome(err)
	step := driver.Step{Call: fmt.Sprintf("POST %s [{ID: %s, TenantID: %s, Reason: %s}]", pathClose, w.InternalID, w.TenantID, reason), OK: err == nil}
	if he, ok := errors.AsType[*driver.HTTPError](err); ok {
		step.RequestID = he.RequestID
	}
	if err != nil {
		step.Error = err.Error()
		res.Steps = append(res.Steps, step)
		return res, err
	}
	step.RequestID = resp.requestID
	res.Steps = append(res.Steps, step)

	// The close succeeded; a failed read-back leaves Incident empty.
	if after, err := d.Get(ctx, nativeID); err == nil {
		after.Raw = nil
		res.Incident = after
	}
	return res, nil
}

// closeReason validates patch against what Kaspersky can change and returns
// the close call's Reason.
func closeReason(p schema.Patch) (string, error) {
	var refused []string
	if p.Title != nil {
		refused = append(refused, "title")
	}
	if p.Description != nil {
		refused = append(refused, "description")
	}
	if p.Severity != nil {
		refused = append(refused, "severity")
	}
	if p.Assignee != nil {
		refused = append(refused, "assignee")
	}
	if p.Comment != nil {
		refused = append(refused, "comment")
	}
	if p.Status != nil && *p.Status != schema.StatusClosed {
		refused = append(refused, "status "+string(*p.Status))
	}
	if len(refused) > 0 {
		return "", unsupported(refused[0], "%s cannot change %s; %s", Vendor, strings.Join(refused, ", "), allowedChange)
	}
	switch {
	case p.Status == nil && p.Resolution == nil:
		return "", schema.ArgError("patch", "nothing to change; %s", allowedChange)
	case p.Status == nil:
		return "", unsupported("resolution", "Kaspersky sets a resolution only when closing: send status closed together with the resolution")
	case p.Resolution == nil:
		return "", schema.ArgError("resolution", "closing a Kaspersky incident needs a resolution: one of %s", reasonList())
	}
	reason, ok := resolutionToReason[*p.Resolution]
	if !ok {
		return "", unsupported("resolution", "Kaspersky cannot close with resolution %q; use one of %s", *p.Resolution, reasonList())
	}
	return reason, nil
}

func unsupported(arg, format string, args ...any) *schema.Error {
	e := schema.Errorf(schema.CodeUnsupported, format, args...)
	e.Arg = arg
	return e
}

func reasonList() string {
	var rs []string
	for r := range resolutionToReason {
		rs = append(rs, string(r))
	}
	slices.Sort(rs)
	return strings.Join(rs, ", ")
}

func displayResolution(vendor string) string {
	if r, ok := resolutionFromKaspersky[vendor]; ok {
		return string(r)
	}
	if vendor == "" {
		return "no resolution"
	}
	return vendor
}
