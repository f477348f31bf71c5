package esetsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

type incidentResponse struct {
	Incident Incident `json:"incident"`
}

func notFound(id string) response {
	return errorResponse(http.StatusNotFound, fmt.Sprintf("incident %q not found", id))
}

func (s *Server) get(id string) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byUUID[id]
	if !ok {
		return notFound(id)
	}
	return jsonResponse(http.StatusOK, incidentResponse{r.inc.clone()})
}

// touch records a write. updateTime strictly increases even when two writes
// land in the same millisecond, because clients detect concurrent changes by
// comparing it. The caller holds s.mu for writing.
func (s *Server) touch(r *record) time.Time {
	t := s.now().UTC().Truncate(time.Millisecond)
	if !t.After(r.inc.UpdateTime) {
		t = r.inc.UpdateTime.Add(time.Millisecond)
	}
	r.inc.UpdateTime = t
	s.version++
	return t
}

func (s *Server) appendComment(r *record, text string, at time.Time) comment {
	c := comment{UUID: randomUUID(), Text: text, CreateTime: at, AuthorUUID: s.authorUUID}
	r.comments = append(r.comments, c)
	return c
}

// updatableFields are the updateMask names the vendor accepts, in the
// lowerCamel form its FieldMask JSON uses.
var updatableFields = []string{"assigneeUuid", "description", "displayName", "severity"}

type updateBasicRequest struct {
	AssigneeUUID string `json:"assigneeUuid"`
	Description  string `json:"description"`
	DisplayName  string `json:"displayName"`
	Severity     string `json:"severity"`
	UpdateMask   string `json:"updateMask"`
}

func (s *Server) updateBasic(id string, body []byte) response {
	var req updateBasicRequest
	if !decodeBody(body, &req) {
		return badRequest("body", "invalid request body", "the body must be a JSON object with string fields and updateMask as one comma-separated string")
	}
	if strings.TrimSpace(req.UpdateMask) == "" {
		return badRequest("updateMask", "updateMask is required",
			"list the fields to change, comma-separated: "+strings.Join(updatableFields, ","))
	}
	var mask []string
	for p := range strings.SplitSeq(req.UpdateMask, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(updatableFields, p) {
			return badRequest("updateMask", "invalid updateMask",
				fmt.Sprintf("%q cannot be updated; allowed: %s", p, strings.Join(updatableFields, ",")))
		}
		mask = append(mask, p)
	}
	if slices.Contains(mask, "severity") && !slices.Contains(severities, req.Severity) {
		return badRequest("severity", "invalid severity",
			fmt.Sprintf("%q is not a severity; allowed: %s", req.Severity, strings.Join(severities, ", ")))
	}
	// The vendor's model requires a name; an empty one is treated as a
	// validation error rather than silently blanking the incident.
	if slices.Contains(mask, "displayName") && strings.TrimSpace(req.DisplayName) == "" {
		return badRequest("displayName", "invalid displayName", "displayName must not be empty")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byUUID[id]
	if !ok {
		return notFound(id)
	}
	if slices.Contains(mask, "assigneeUuid") && req.AssigneeUUID == "" && r.inc.Status != StatusOpen {
		return badRequest("assigneeUuid", "invalid assigneeUuid",
			"the assignee can be removed only while the incident status is INCIDENT_STATUS_OPEN")
	}
	for _, f := range mask {
		switch f {
		case "assigneeUuid":
			r.inc.AssigneeUUID = req.AssigneeUUID
		case "description":
			r.inc.Description = req.Description
		case "displayName":
			r.inc.DisplayName = req.DisplayName
		case "severity":
			r.inc.Severity = req.Severity
		}
	}
	s.touch(r)
	return jsonResponse(http.StatusOK, incidentResponse{r.inc.clone()})
}

type commentText struct {
	Text string `json:"text"`
}

var resolveReasons = []string{ResolveTruePositive, ResolveFalsePositive, ResolveSuspicious}

func (s *Server) closeIncident(id string, body []byte) response {
	var req struct {
		ClosureReason string      `json:"closureReason"`
		FinalComment  commentText `json:"finalComment"`
	}
	if !decodeBody(body, &req) {
		return badRequest("body", "invalid request body", "expected {\"closureReason\": …, \"finalComment\": {\"text\": …}}")
	}
	if !slices.Contains(resolveReasons, req.ClosureReason) {
		return badRequest("closureReason", "invalid closureReason",
			fmt.Sprintf("%q is not a closure reason; allowed: %s", req.ClosureReason, strings.Join(resolveReasons, ", ")))
	}
	return s.setStatus(id, StatusClosed, "closed", func(r *record, at time.Time) {
		r.inc.ResolveReason = req.ClosureReason
		r.inc.ResponseDuration = durationString(at.Sub(r.inc.CreateTime))
		if r.inc.TriageDuration == "0s" {
			r.inc.TriageDuration = r.inc.ResponseDuration
		}
		if strings.TrimSpace(req.FinalComment.Text) != "" {
			s.appendComment(r, req.FinalComment.Text, at)
			r.comments[len(r.comments)-1].IsFinalComment = true
		}
	})
}

func (s *Server) reopen(id string, body []byte) response {
	var req struct {
		Comment commentText `json:"comment"`
	}
	if !decodeBody(body, &req) {
		return badRequest("body", "invalid request body", "expected {\"comment\": {\"text\": …}}")
	}
	return s.setStatus(id, StatusOpen, "open", func(r *record, at time.Time) {
		r.inc.ResolveReason = ""
		if strings.TrimSpace(req.Comment.Text) != "" {
			s.appendComment(r, req.Comment.Text, at)
		}
	})
}

// setStatus moves incident id to status under the lock and lets then make
// the rest of the change at the write's time. An unknown id is not found;
// an incident already in status is a failed precondition, word naming the
// status in the message.
func (s *Server) setStatus(id, status, word string, then func(r *record, at time.Time)) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byUUID[id]
	if !ok {
		return notFound(id)
	}
	if r.inc.Status == status {
		return failedPrecondition("the incident is already " + word)
	}
	at := s.touch(r)
	r.inc.Status = status
	then(r, at)
	return jsonResponse(http.StatusOK, struct{}{})
}

// Comments returns the texts of an incident's comments, oldest first.
func (s *Server) Comments(id string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byUUID[id]
	if !ok {
		return nil
	}
	out := make([]string, len(r.comments))
	for i, c := range r.comments {
		out[i] = c.Text
	}
	return out
}

func (s *Server) listComments(id string) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.byUUID[id]
	if !ok {
		return notFound(id)
	}
	return jsonResponse(http.StatusOK, struct {
		Comments []comment `json:"comments"`
	}{append([]comment{}, r.comments...)})
}

func (s *Server) addComment(id string, body []byte) response {
	var req struct {
		Comment commentText `json:"comment"`
	}
	if !decodeBody(body, &req) {
		return badRequest("body", "invalid request body", "expected {\"comment\": {\"text\": …}}")
	}
	if strings.TrimSpace(req.Comment.Text) == "" {
		return badRequest("comment.text", "invalid comment", "comment.text must not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byUUID[id]
	if !ok {
		return notFound(id)
	}
	at := s.touch(r)
	return jsonResponse(http.StatusOK, struct {
		Comment comment `json:"comment"`
	}{s.appendComment(r, req.Comment.Text, at)})
}
