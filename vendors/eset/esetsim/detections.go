package esetsim

import (
	"crypto/sha1" //nolint:gosec // the vendor's objectHashSha1 is SHA-1: a data field, not a security control
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Detection routes, from ESET's OpenAPI document (Incident Management v1.0).
const (
	routeDetection = "/v2/detections/{uuid}"
	routeBatchGet  = "/v2/detections:batchGet"
)

// maxBatch is the most detections one batchGet takes; the vendor answers
// more with 400 (OUT_OF_RANGE).
const maxBatch = 1000

// Detection is v2Detection, the fields the simulator fills.
type Detection struct {
	UUID           string            `json:"uuid"`
	DisplayName    string            `json:"displayName"`
	TypeName       string            `json:"typeName"`
	Category       string            `json:"category"`
	SeverityLevel  string            `json:"severityLevel"`
	SeverityScore  int               `json:"severityScore"`
	OccurTime      time.Time         `json:"occurTime"`
	Device         DetectionDevice   `json:"device"`
	UserName       string            `json:"userName,omitempty"`
	ObjectName     string            `json:"objectName"`
	ObjectTypeName string            `json:"objectTypeName"`
	ObjectHashSha1 string            `json:"objectHashSha1,omitempty"`
	Process        *DetectionProcess `json:"process,omitempty"`
	NetworkTraffic *NetworkTraffic   `json:"networkTraffic,omitempty"`
	Resolved       bool              `json:"resolved"`
}

// DetectionDevice is v2Device.
type DetectionDevice struct {
	UUID        string `json:"uuid"`
	DisplayName string `json:"displayName"`
}

// DetectionProcess is v2Process.
type DetectionProcess struct {
	Path        string `json:"path"`
	CommandLine string `json:"commandLine,omitempty"`
}

// NetworkTraffic is v2EndpointNetworkTraffic, the remote end.
type NetworkTraffic struct {
	RemoteIPAddress string `json:"remoteIpAddress"`
	RemotePort      int    `json:"remotePort"`
}

var detectionKinds = []struct {
	category, typeName, name, objectType string
}{
	{"DETECTION_CATEGORY_EDR_RULE", "EDR rule", "Suspicious process chain", "Process"},
	{"DETECTION_CATEGORY_ANTIVIRUS", "Trojan", "Win32/Agent.ABC trojan", "File"},
	{"DETECTION_CATEGORY_HIPS", "HIPS", "Access to LSASS memory", "Process"},
	{"DETECTION_CATEGORY_NETWORK_INTRUSION", "Network attack", "Outbound connection to botnet C&C", "Network"},
	{"DETECTION_CATEGORY_SUSPICIOUS_ACTIVITY", "Suspicious activity", "Encoded PowerShell command", "Process"},
}

var detectionSeverities = []string{"SEVERITY_LEVEL_LOW", "SEVERITY_LEVEL_MEDIUM", "SEVERITY_LEVEL_HIGH"}

// localUsers are the accounts ESET detections name besides the shared
// ones, "DOMAIN\login" as Windows reports them.
var localUsers = []string{"svc_backup", "a.kowalski", "m.rossi", "p.nguyen", "s.muller", "t.okafor"}

// detectionOf builds a detection of r as a pure function of its uuid: the
// dataset's random stream is not touched, so adding detections changed no
// incident. It occurs between the incident's creation and last update, on
// one of its devices.
func detectionOf(r *record, uuid string) Detection {
	h := sha512.Sum512([]byte("esetsim detection " + uuid))
	n := func(i, mod int) int { return int(binary.BigEndian.Uint32(h[i*4:]) % uint32(mod)) }
	k := detectionKinds[n(0, len(detectionKinds))]
	span := r.inc.UpdateTime.Sub(r.inc.CreateTime)
	at := r.inc.CreateTime
	if span > 0 {
		at = at.Add(time.Duration(uint64(binary.BigEndian.Uint64(h[48:56])) % uint64(span)))
	}
	d := Detection{
		UUID: uuid, DisplayName: k.name, TypeName: k.typeName, Category: k.category,
		SeverityLevel: detectionSeverities[n(1, len(detectionSeverities))], SeverityScore: 10 + n(4, 90),
		OccurTime: at.Truncate(time.Millisecond), ObjectTypeName: k.objectType,
		Resolved: r.inc.Status == StatusClosed,
	}
	if len(r.hosts) > 0 {
		host := r.hosts[n(5, len(r.hosts))]
		d.Device = DetectionDevice{UUID: host.uuid, DisplayName: host.name}
	}
	// A detection on a shared host names its shared owner; others one of
	// the local accounts.
	login := localUsers[n(6, len(localUsers))]
	for i, fh := range fleetHosts {
		if d.Device.DisplayName == fh.Name {
			login = fleetUsers[i%len(fleetUsers)].Login
		}
	}
	d.UserName = `CORP\` + login
	proc := processes[n(7, len(processes))]
	switch k.objectType {
	case "File":
		sum := sha1.Sum([]byte(uuid)) //nolint:gosec // a made-up file's hash
		d.ObjectHashSha1 = strings.ToUpper(hex.EncodeToString(sum[:]))
		d.ObjectName = `C:\Users\Public\Downloads\invoice_` + uuid[:8] + `.exe`
	case "Network":
		d.ObjectName = proc
		d.NetworkTraffic = &NetworkTraffic{RemoteIPAddress: fmt.Sprintf("185.%d.%d.%d", n(8, 200)+10, n(9, 250)+1, n(10, 250)+1), RemotePort: 443}
	default:
		d.ObjectName = proc
		d.Process = &DetectionProcess{Path: proc}
	}
	return d
}

// shareFleet names the first devices of the pool after the shared fleet.
func shareFleet(devices []device) {
	for i, h := range fleetHosts {
		if i < len(devices) {
			devices[i].name = h.Name
		}
	}
}

// indexDetections maps every detection uuid to its incident.
func (s *Server) indexDetections() {
	s.detections = map[string]*record{}
	for _, r := range s.recs {
		for _, d := range r.inc.DetectionUUIDs {
			s.detections[d] = r
		}
	}
}

// Detection returns a detection as the API serves it, for tests.
func (s *Server) Detection(uuid string) (Detection, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.detections[uuid]
	if !ok {
		return Detection{}, false
	}
	return detectionOf(r, uuid), true
}

func (s *Server) getDetection(uuid string) response {
	d, ok := s.Detection(uuid)
	if !ok {
		return errorResponse(http.StatusNotFound, fmt.Sprintf("detection %q not found", uuid))
	}
	return jsonResponse(http.StatusOK, struct {
		Detection Detection `json:"detection"`
	}{d})
}

// batchGet answers POST /v2/detections:batchGet. The document bounds the
// batch at 1000 (400 beyond); what it does with an unknown uuid it does not
// say (unverified): like Google's AIP-231 batch methods, which ESET's API
// follows, the whole batch fails with 404.
func (s *Server) batchGet(body []byte) response {
	var req struct {
		DetectionUUIDs []string `json:"detectionUuids"`
	}
	if !decodeBody(body, &req) {
		return badRequest("body", "invalid request body", `expected {"detectionUuids": [...]}`)
	}
	if len(req.DetectionUUIDs) > maxBatch {
		return badRequest("detectionUuids", "too many detections", fmt.Sprintf("at most %d per batch, got %d", maxBatch, len(req.DetectionUUIDs)))
	}
	out := make([]Detection, 0, len(req.DetectionUUIDs))
	for _, id := range req.DetectionUUIDs {
		d, ok := s.Detection(id)
		if !ok {
			return errorResponse(http.StatusNotFound, fmt.Sprintf("detection %q not found", id))
		}
		out = append(out, d)
	}
	return jsonResponse(http.StatusOK, struct {
		Detections []Detection `json:"detections"`
	}{out})
}

// matchDetectionRoute parses the detection paths.
func matchDetectionRoute(path string) (pattern, id string, ok bool) {
	if path == routeBatchGet {
		return routeBatchGet, "", true
	}
	id, ok = strings.CutPrefix(path, "/v2/detections/")
	if !ok || id == "" || strings.ContainsAny(id, "/:") {
		return "", "", false
	}
	return routeDetection, id, true
}

// The shared fleet: hosts and people the demo simulators of ESET,
// Kaspersky and DLP all know by the same names, so that one
// organisation's machines and users show up at every vendor (the same
// laptop in an ESET detection and a Kaspersky incident, the same user in a
// Kaspersky incident and a DLP one). Each simulator holds the same table;
// the evals relate incidents across vendors through these names. They
// replace the first entries of the simulator's own pools without drawing
// from its random stream, so the rest of the dataset stays as it was.
var (
	fleetHosts = []struct{ Name, OS string }{
		{"FIN-LAPTOP-042", "windows"}, {"ENG-WS-117", "windows"}, {"MKT-MBP-007", "macos"},
	}
	fleetUsers = []struct{ Login, Display string }{
		{"jane.doe", "Jane Doe"}, {"omar.haddad", "Omar Haddad"}, {"li.wei", "Li Wei"},
	}
)
