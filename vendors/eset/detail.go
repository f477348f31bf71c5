package eset

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// sections are what ESET's API serves beyond an incident: its comments
// (GET /v2/incidents/{uuid}/comments) and its detections (POST
// /v2/detections:batchGet). It keeps no history of changes.
var sections = []driver.Section{driver.SectionComments, driver.SectionEvidence}

var (
	_ driver.CommentReader  = (*Driver)(nil)
	_ driver.EvidenceReader = (*Driver)(nil)
)

// wireComment is v2IncidentComment.
type wireComment struct {
	UUID           string `json:"uuid"`
	Text           string `json:"text"`
	CreateTime     string `json:"createTime"`
	AuthorUUID     string `json:"authorUuid"`
	IsFinalComment bool   `json:"isFinalComment"`
}

// Comments implements driver.CommentReader with one request: ESET answers
// every comment of the incident, oldest first (the order they were
// written); the newest limit are kept.
func (d *Driver) Comments(ctx context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Comment], error) {
	resp, err := d.c.do(ctx, http.MethodGet, "/v2/incidents/"+url.PathEscape(inc.ID)+"/comments", nil, nil)
	if err != nil {
		return nil, err
	}
	var body struct {
		Comments []wireComment `json:"comments"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("eset comments: decode response (request-id %s): %w", resp.requestID, err)
	}
	all := make([]schema.Comment, len(body.Comments))
	for i, c := range body.Comments {
		all[i] = schema.Comment{Author: c.AuthorUUID, Time: parseTime(c.CreateTime), Text: c.Text, Final: c.IsFinalComment}
	}
	items, more := driver.Tail(all, limit)
	return &driver.Items[schema.Comment]{Items: items, HasMore: more, Requests: 1, RequestID: resp.requestID}, nil
}

// wireDetection is the part of v2Detection evidence shows.
type wireDetection struct {
	UUID           string `json:"uuid"`
	DisplayName    string `json:"displayName"`
	TypeName       string `json:"typeName"`
	Category       string `json:"category"`
	SeverityLevel  string `json:"severityLevel"`
	OccurTime      string `json:"occurTime"`
	UserName       string `json:"userName"`
	ObjectName     string `json:"objectName"`
	ObjectHashSha1 string `json:"objectHashSha1"`
	Device         *struct {
		UUID        string `json:"uuid"`
		DisplayName string `json:"displayName"`
	} `json:"device"`
	NetworkTraffic *struct {
		RemoteIPAddress string `json:"remoteIpAddress"`
	} `json:"networkTraffic"`
}

// Evidence implements driver.EvidenceReader: the incident's first limit
// detections (its detectionUuids, in the vendor's order) in one batchGet,
// which the document bounds at 100 recommended, 1000 at most.
func (d *Driver) Evidence(ctx context.Context, inc *schema.Incident, limit int) (*driver.Items[schema.Evidence], error) {
	ids, more := driver.Head(inc.DetectionIDs, limit)
	if len(ids) == 0 {
		return &driver.Items[schema.Evidence]{}, nil
	}
	resp, err := d.c.do(ctx, http.MethodPost, "/v2/detections:batchGet", nil, map[string]any{"detectionUuids": ids})
	if err != nil {
		return nil, err
	}
	var body struct {
		Detections []wireDetection `json:"detections"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("eset detections: decode response (request-id %s): %w", resp.requestID, err)
	}
	out := make([]schema.Evidence, len(body.Detections))
	for i := range body.Detections {
		out[i] = detectionEvidence(&body.Detections[i])
	}
	return &driver.Items[schema.Evidence]{Items: out, HasMore: more, Requests: 1, RequestID: resp.requestID}, nil
}

func detectionEvidence(w *wireDetection) schema.Evidence {
	e := schema.Evidence{
		Kind: schema.EvidenceDetection, Time: parseTime(w.OccurTime),
		Severity: strings.ToLower(strings.TrimPrefix(w.SeverityLevel, "SEVERITY_LEVEL_")),
		Link:     "GET /v2/detections/" + w.UUID,
	}
	var parts []string
	parts = append(parts, cmp.Or(w.DisplayName, w.TypeName, "detection"))
	if w.TypeName != "" && w.TypeName != w.DisplayName {
		parts[0] += " (" + w.TypeName + ")"
	}
	if w.Device != nil && (w.Device.UUID != "" || w.Device.DisplayName != "") {
		e.Entity = &schema.Entity{Kind: schema.EntityHost, ID: w.Device.UUID, Name: w.Device.DisplayName}
		parts = append(parts, "on "+cmp.Or(w.Device.DisplayName, w.Device.UUID))
	}
	if w.UserName != "" {
		e.Also = append(e.Also, schema.Entity{Kind: schema.EntityUser, Name: w.UserName})
		parts = append(parts, "user "+w.UserName)
	}
	if w.ObjectName != "" {
		parts = append(parts, "object "+w.ObjectName)
	}
	if w.ObjectHashSha1 != "" {
		e.Also = append(e.Also, schema.Entity{Kind: schema.EntityHash, ID: w.ObjectHashSha1})
		parts = append(parts, "sha1 "+w.ObjectHashSha1)
	}
	if w.NetworkTraffic != nil && w.NetworkTraffic.RemoteIPAddress != "" {
		e.Also = append(e.Also, schema.Entity{Kind: schema.EntityIP, ID: w.NetworkTraffic.RemoteIPAddress})
		parts = append(parts, "remote "+w.NetworkTraffic.RemoteIPAddress)
	}
	e.Summary = strings.Join(parts, "; ")
	return e
}
