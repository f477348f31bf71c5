package dlpsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// closeReasons are the values PATCH accepts for close_reason.
// "invalid_data_mislabled" is the API's own spelling and must not be corrected.
var closeReasons = [...]string{"valid", "invalid_data_mislabled", "invalid_destination_not_risk", "invalid_user_exempt", "invalid_other"}

// CloseReasons lists the accepted close_reason values (a copy).
var CloseReasons = slices.Clone(closeReasons[:])

// UpdatedAtLayout is the layout of updated_at after a PATCH: the wall clock with
// milliseconds. Generated incidents use whole seconds (time.RFC3339).
const UpdatedAtLayout = "2006-01-02T15:04:05.000Z07:00"

var updateFields = []string{"status", "close_reason", "close_note", "assigned_to"}

// update answers PATCH {prefix}/incidents/{id}.
func (s *Server) update(id string, body []byte) (int, []byte) {
	s.mu.Lock()
	deny := s.denyUpdates
	s.mu.Unlock()
	if deny {
		// Permission is checked before the body, as an authorization layer would.
		return errorJSON(http.StatusForbidden, "missing permission incident__update")
	}

	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return errorJSON(http.StatusBadRequest, errNotObject.Error())
	}
	if len(raw) == 0 {
		return errorJSON(http.StatusBadRequest, "nothing to update: send any of status, close_reason, close_note, assigned_to")
	}
	errs := unknownKeys(raw, updateFields, "unknown field %q")
	vals := map[string]string{}
	for _, k := range updateFields {
		r, ok := raw[k]
		if !ok {
			continue
		}
		var v string
		if isNull(r) || json.Unmarshal(r, &v) != nil {
			errs = append(errs, fmt.Sprintf("%s must be a string", k))
			continue
		}
		vals[k] = v
	}
	status, hasStatus := vals["status"]
	reason, hasReason := vals["close_reason"]
	note, hasNote := vals["close_note"]
	assignee, hasAssignee := vals["assigned_to"]
	if hasStatus && status != "open" && status != "closed" {
		errs = append(errs, fmt.Sprintf("status must be open or closed, got %q", status))
	}
	if hasReason && !slices.Contains(closeReasons[:], reason) {
		errs = append(errs, fmt.Sprintf("close_reason must be one of %s, got %q", strings.Join(closeReasons[:], ", "), reason))
	}
	// An empty assigned_to unassigns (unverified: the vendor does not document
	// unassigning; this is the tolerant reading).
	if hasAssignee && assignee != "" && !validEmail(assignee) {
		errs = append(errs, fmt.Sprintf("assigned_to must be an e-mail address, got %q", assignee))
	}
	if len(errs) > 0 {
		return errorJSON(http.StatusBadRequest, errs...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byID[id]
	if !ok {
		return errorJSON(http.StatusNotFound, fmt.Sprintf("incident %q not found", id))
	}
	r := s.recs[i]
	result := r.inc.Status
	if hasStatus {
		result = status
	}
	if hasStatus && status == "closed" && !hasReason {
		return errorJSON(http.StatusBadRequest, "closing an incident requires close_reason")
	}
	if (hasReason || hasNote) && result != "closed" {
		return errorJSON(http.StatusBadRequest, "close_reason and close_note are only allowed when closing an incident or on a closed one")
	}
	if hasStatus {
		if status == "open" {
			// Reopening forgets why it was closed.
			r.inc.CloseReason, r.inc.CloseNote = "", ""
		}
		if r.inc.Status != status {
			s.statusDirty = true
		}
		r.inc.Status = status
	}
	if hasReason {
		r.inc.CloseReason = reason
	}
	if hasNote {
		r.inc.CloseNote = note
	}
	if hasAssignee {
		r.inc.AssignedTo = assignee
	}
	// updated_at follows the wall clock but never stays put or goes back, so
	// anything that compares updated_at to detect a change sees this one.
	now := time.Now().UTC().Truncate(time.Millisecond).UnixNano()
	r.updated = max(now, r.updated+int64(time.Millisecond))
	r.inc.UpdatedAt = time.Unix(0, r.updated).UTC().Format(UpdatedAtLayout)

	s.applied = append(s.applied, AppliedWrite{ID: id, Body: string(body)})

	// The answer omits details, as a list without include_details does.
	inc := r.inc
	inc.Details = nil
	out, _ := json.Marshal(listResponse{Resources: []Incident{inc}, Size: 1, TotalCount: 1, Errors: []apiError{}})
	return http.StatusOK, out
}

// validEmail accepts a bare address with a dotted domain: what an analyst e-mail
// looks like, without display names or angle brackets.
func validEmail(v string) bool {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v || len(v) > 254 {
		return false
	}
	_, domain, _ := strings.Cut(v, "@")
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!bytes.ContainsAny([]byte(v), " \t\r\n")
}

// AppliedWrite is one update the simulator applied, as it was sent.
type AppliedWrite struct {
	ID   string
	Body string
}

// AppliedWrites lists every update applied so far, in order: a test counts
// how often a write reached the data, not just what the data became.
func (s *Server) AppliedWrites() []AppliedWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.applied)
}
