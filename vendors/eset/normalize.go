package eset

import (
	"encoding/json"
	"time"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/internal/wire"
)

// The mapping tables between ESET's enums and the normalized ones: the one
// place they live.
var (
	severityFromESET = map[string]schema.Severity{
		"INCIDENT_SEVERITY_LEVEL_LOW":    schema.SeverityLow,
		"INCIDENT_SEVERITY_LEVEL_MEDIUM": schema.SeverityMedium,
		"INCIDENT_SEVERITY_LEVEL_HIGH":   schema.SeverityHigh,
	}
	statusFromESET = map[string]schema.Status{
		"INCIDENT_STATUS_OPEN":              schema.StatusOpen,
		"INCIDENT_STATUS_IN_PROGRESS":       schema.StatusInProgress,
		"INCIDENT_STATUS_WAITING_FOR_INPUT": schema.StatusOnHold,
		"INCIDENT_STATUS_CLOSED":            schema.StatusClosed,
	}
	resolutionFromESET = map[string]schema.Resolution{
		"INCIDENT_RESOLVE_REASON_TRUE_POSITIVE":  schema.ResolutionTruePositive,
		"INCIDENT_RESOLVE_REASON_FALSE_POSITIVE": schema.ResolutionFalsePositive,
		"INCIDENT_RESOLVE_REASON_SUSPICIOUS":     schema.ResolutionSuspicious,
	}
	severityToESET   = wire.Invert(severityFromESET)
	statusToESET     = wire.Invert(statusFromESET)
	resolutionToESET = wire.Invert(resolutionFromESET)
)

// wireIncident is ESET's Incident as the API sends it.
type wireIncident struct {
	UUID             string   `json:"uuid"`
	DisplayName      string   `json:"displayName"`
	Description      string   `json:"description"`
	AssigneeUUID     string   `json:"assigneeUuid"`
	CreateTime       string   `json:"createTime"`
	UpdateTime       string   `json:"updateTime"`
	Severity         string   `json:"severity"`
	Status           string   `json:"status"`
	ResolveReason    string   `json:"resolveReason"`
	Tags             []string `json:"tags"`
	DeviceUUIDs      []string `json:"deviceUuids"`
	DetectionUUIDs   []string `json:"detectionUuids"`
	TriageDuration   string   `json:"triageDuration"`
	ResponseDuration string   `json:"responseDuration"`
	Metrics          *struct {
		DeviceCount     *int64 `json:"deviceCount"`
		ExecutableCount *int64 `json:"executableCount"`
		ProcessCount    *int64 `json:"processCount"`
	} `json:"metrics"`
}

type listResponse struct {
	Incidents     []wireIncident `json:"incidents"`
	NextPageToken string         `json:"nextPageToken"`
}

type getResponse struct {
	Incident json.RawMessage `json:"incident"`
}

// normalize maps an ESET record onto the normalized model. full is set for
// records from get, which carry device and detection ids and details.
func normalize(w *wireIncident, full bool) schema.Incident {
	inc := schema.Incident{
		ID:             w.UUID,
		Vendor:         Vendor,
		Title:          w.DisplayName,
		Description:    w.Description,
		Severity:       severityFromESET[w.Severity],
		VendorSeverity: w.Severity,
		Status:         statusFromESET[w.Status],
		VendorStatus:   w.Status,
		Resolution:     resolutionFromESET[w.ResolveReason],
		CreatedAt:      parseTime(w.CreateTime),
		UpdatedAt:      parseTime(w.UpdateTime),
		Tags:           w.Tags,
	}
	if w.AssigneeUUID != "" {
		inc.Assignee = &schema.Ref{ID: w.AssigneeUUID}
	}
	for _, d := range w.DeviceUUIDs {
		inc.Devices = append(inc.Devices, schema.Ref{ID: d})
	}
	inc.DetectionIDs = w.DetectionUUIDs
	if w.Metrics != nil || full {
		c := &schema.Counts{}
		if w.Metrics != nil {
			c.Devices, c.Processes, c.Executables = w.Metrics.DeviceCount, w.Metrics.ProcessCount, w.Metrics.ExecutableCount
		}
		if full {
			n := int64(len(w.DetectionUUIDs))
			c.Detections = &n
		}
		inc.Counts = c
	}
	if full {
		d := map[string]any{}
		if w.TriageDuration != "" {
			d["triage_duration"] = w.TriageDuration
		}
		if w.ResponseDuration != "" {
			d["response_duration"] = w.ResponseDuration
		}
		if len(d) > 0 {
			inc.Details = d
		}
	}
	return inc
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
