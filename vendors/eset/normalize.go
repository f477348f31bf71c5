package eset

import (
	"encoding/json"
	"sync"
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

// listRecord is a record of a list page as decodeList reads it: its
// strings are spans of the page's text, so that a page costs a few
// allocations rather than several per record. It holds what normalize
// reads of a list record (not the durations, which only get shows).
type listRecord struct {
	uuid, displayName, description, assignee   wire.Span
	createTime, updateTime                     wire.Span
	severity, status, resolveReason            wire.Span
	tags, devices, detections                  wire.List
	metrics                                    bool
	deviceCount, executableCount, processCount optionalInt
}

type optionalInt struct {
	n  int64
	ok bool
}

// records are decodeList's scratch pages, reused.
var records = sync.Pool{New: func() any { return new([]listRecord) }}

// decodeList reads a list body ({"incidents": [...], "nextPageToken": "..."})
// into normalized incidents, as normalize(w, false) maps the records
// wire.Decode reads into listResponse, in one pass and a few allocations
// for the page: one string for all its text, one slice each for its
// incidents, string lists, references and counts.
func decodeList(body []byte, pageSize int) (incidents []schema.Incident, next string, err error) {
	r := wire.NewReader(body)
	defer r.Release()
	scratch := records.Get().(*[]listRecord)
	defer records.Put(scratch)
	recs := (*scratch)[:0]
	var nextToken wire.Span
	if cap(recs) < pageSize {
		recs = make([]listRecord, 0, pageSize)
	}
	if r.Object() {
		for r.Next() {
			switch {
			case r.Is("INCIDENTS"):
				recs = recs[:0] // a duplicate member replaces the first
				if r.Array() {
					for r.More() {
						recs = append(recs, listRecord{})
						readRecord(r, &recs[len(recs)-1])
					}
				}
			case r.Is("NEXTPAGETOKEN"):
				nextToken = r.String()
			default:
				r.Skip()
			}
		}
	}
	if err := r.End(); err != nil {
		return nil, "", err
	}
	*scratch = recs[:0]
	text := r.Text()
	items := r.Strings(text)
	refs, nInts, nCounts := 0, 0, 0
	for i := range recs {
		w := &recs[i]
		refs += w.devices.Len()
		if w.assignee != (wire.Span{}) {
			refs++
		}
		if w.metrics {
			nCounts++
			nInts += b2i(w.deviceCount.ok) + b2i(w.executableCount.ok) + b2i(w.processCount.ok)
		}
	}
	refPool, intPool, countPool := make([]schema.Ref, 0, refs), make([]int64, 0, nInts), make([]schema.Counts, 0, nCounts)
	intRef := func(o optionalInt) *int64 {
		if !o.ok {
			return nil
		}
		intPool = append(intPool, o.n)
		return &intPool[len(intPool)-1]
	}
	incidents = make([]schema.Incident, len(recs))
	for i := range recs {
		w := &recs[i]
		severity, status := w.severity.In(text), w.status.In(text)
		inc := &incidents[i]
		*inc = schema.Incident{
			ID:             w.uuid.In(text),
			Vendor:         Vendor,
			Title:          w.displayName.In(text),
			Description:    w.description.In(text),
			Severity:       severityFromESET[severity],
			VendorSeverity: severity,
			Status:         statusFromESET[status],
			VendorStatus:   status,
			Resolution:     resolutionFromESET[w.resolveReason.In(text)],
			CreatedAt:      parseTime(w.createTime.In(text)),
			UpdatedAt:      parseTime(w.updateTime.In(text)),
			Tags:           w.tags.In(items),
			DetectionIDs:   w.detections.In(items),
		}
		if w.assignee != (wire.Span{}) {
			refPool = append(refPool, schema.Ref{ID: w.assignee.In(text)})
			inc.Assignee = &refPool[len(refPool)-1]
		}
		if n := w.devices.Len(); n > 0 {
			start := len(refPool)
			for _, d := range w.devices.In(items) {
				refPool = append(refPool, schema.Ref{ID: d})
			}
			inc.Devices = refPool[start : start+n : start+n]
		}
		if w.metrics {
			countPool = append(countPool, schema.Counts{
				Devices: intRef(w.deviceCount), Processes: intRef(w.processCount), Executables: intRef(w.executableCount),
			})
			inc.Counts = &countPool[len(countPool)-1]
		}
	}
	return incidents, nextToken.In(text), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readRecord reads one record of the list; null leaves it zero.
func readRecord(r *wire.Reader, w *listRecord) {
	if !r.Object() {
		return
	}
	for r.Next() {
		switch {
		case r.Is("UUID"):
			w.uuid = r.String()
		case r.Is("DISPLAYNAME"):
			w.displayName = r.String()
		case r.Is("DESCRIPTION"):
			w.description = r.String()
		case r.Is("ASSIGNEEUUID"):
			w.assignee = r.String()
		case r.Is("CREATETIME"):
			w.createTime = r.String()
		case r.Is("UPDATETIME"):
			w.updateTime = r.String()
		case r.Is("SEVERITY"):
			w.severity = r.String()
		case r.Is("STATUS"):
			w.status = r.String()
		case r.Is("RESOLVEREASON"):
			w.resolveReason = r.String()
		case r.Is("TAGS"):
			w.tags = r.StringList()
		case r.Is("DEVICEUUIDS"):
			w.devices = r.StringList()
		case r.Is("DETECTIONUUIDS"):
			w.detections = r.StringList()
		case r.Is("METRICS"):
			if w.metrics = r.Object(); !w.metrics {
				continue // null: no metrics
			}
			for r.Next() {
				switch {
				case r.Is("DEVICECOUNT"):
					w.deviceCount.n, w.deviceCount.ok = r.Int()
				case r.Is("EXECUTABLECOUNT"):
					w.executableCount.n, w.executableCount.ok = r.Int()
				case r.Is("PROCESSCOUNT"):
					w.processCount.n, w.processCount.ok = r.Int()
				default:
					r.Skip()
				}
			}
		default:
			r.Skip()
		}
	}
}
