package esetsim

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
)

// Enum values as they appear on the wire and, unquoted, in filters.
const (
	StatusOpen            = "INCIDENT_STATUS_OPEN"
	StatusInProgress      = "INCIDENT_STATUS_IN_PROGRESS"
	StatusClosed          = "INCIDENT_STATUS_CLOSED"
	StatusWaitingForInput = "INCIDENT_STATUS_WAITING_FOR_INPUT"

	SeverityLow    = "INCIDENT_SEVERITY_LEVEL_LOW"
	SeverityMedium = "INCIDENT_SEVERITY_LEVEL_MEDIUM"
	SeverityHigh   = "INCIDENT_SEVERITY_LEVEL_HIGH"

	ResolveTruePositive  = "INCIDENT_RESOLVE_REASON_TRUE_POSITIVE"
	ResolveFalsePositive = "INCIDENT_RESOLVE_REASON_FALSE_POSITIVE"
	ResolveSuspicious    = "INCIDENT_RESOLVE_REASON_SUSPICIOUS"
)

// statuses and severities are in proto enum order, which is also the order
// orderBy sorts them in.
var (
	statuses   = []string{StatusOpen, StatusInProgress, StatusClosed, StatusWaitingForInput}
	severities = []string{SeverityLow, SeverityMedium, SeverityHigh}
)

func enumRank(list []string, v string) int {
	return slices.Index(list, v) // -1 (before everything) for unknown values
}

// Incident is one ESET incident in its wire shape (v2Incident).
type Incident struct {
	UUID         string    `json:"uuid"`
	DisplayName  string    `json:"displayName"`
	Description  string    `json:"description"`
	AssigneeUUID string    `json:"assigneeUuid,omitempty"`
	CreateTime   time.Time `json:"createTime"`
	UpdateTime   time.Time `json:"updateTime"`
	Severity     string    `json:"severity"`
	Status       string    `json:"status"`
	// ResolveReason is set only while the incident is closed.
	ResolveReason string   `json:"resolveReason,omitempty"`
	Tags          []string `json:"tags"`
	// DeviceUUIDs and DetectionUUIDs are empty in list responses: the
	// vendor returns them only from GET /v2/incidents/{uuid}.
	DeviceUUIDs      []string `json:"deviceUuids,omitempty"`
	DetectionUUIDs   []string `json:"detectionUuids,omitempty"`
	Metrics          Metrics  `json:"metrics"`
	TriageDuration   string   `json:"triageDuration"`
	ResponseDuration string   `json:"responseDuration"`
}

// Metrics is v2IncidentMetrics.
type Metrics struct {
	DeviceCount     int64 `json:"deviceCount"`
	ExecutableCount int64 `json:"executableCount"`
	ProcessCount    int64 `json:"processCount"`
}

func (in Incident) clone() Incident {
	in.Tags = slices.Clone(in.Tags)
	if in.Tags == nil {
		in.Tags = []string{}
	}
	in.DeviceUUIDs = slices.Clone(in.DeviceUUIDs)
	in.DetectionUUIDs = slices.Clone(in.DetectionUUIDs)
	return in
}

// listView is the shape of an item in GET /v2/incidents.
func (in Incident) listView() Incident {
	in.DeviceUUIDs = nil
	in.DetectionUUIDs = nil
	return in
}

type comment struct {
	UUID       string    `json:"uuid"`
	Text       string    `json:"text"`
	CreateTime time.Time `json:"createTime"`
	AuthorUUID string    `json:"authorUuid"`
	// IsFinalComment marks the comment a close left (v2IncidentComment).
	IsFinalComment bool `json:"isFinalComment"`
}

type record struct {
	inc      Incident
	comments []comment
	// hosts are the incident's devices with their names, which detections
	// name; the incident itself carries only their uuids.
	hosts []device
}

// durationString renders a duration as protobuf's Duration JSON form.
func durationString(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

const (
	datasetWindow = 90 * 24 * time.Hour
	devicePool    = 200
	assigneePool  = 9
)

// uuidFrom draws a version-4-shaped UUID from rng so that identifiers are a
// pure function of the seed.
func uuidFrom(rng *rand.Rand) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], rng.Uint64())
	return formatUUID(b, 4)
}

// formatUUID stamps version and RFC 4122 variant bits and renders b in the
// canonical 8-4-4-4-12 form.
func formatUUID(b [16]byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

type device struct{ uuid, name string }

var devicePrefixes = []string{
	"FIN-LAPTOP", "HR-WS", "ENG-WS", "DEV-MBP", "SALES-LAPTOP", "MKT-LAPTOP",
	"SRV-SQL", "SRV-WEB", "SRV-FILE", "DC", "EXEC-LAPTOP", "OPS-WS", "LAB-VM",
}

// scenario is one kind of incident: how it is titled, described and tagged.
type scenario struct {
	titles []string // {host} is replaced by the first device's name
	tags   []string // always attached
	sev    []int    // weights for LOW, MEDIUM, HIGH
	rule   string
}

var scenarios = []scenario{
	{[]string{"Ransomware behavior detected on {host}", "Mass file encryption on {host}",
		"Shadow copies deleted via vssadmin on {host}"},
		[]string{"ransomware"}, []int{1, 3, 8}, "Ransomware-like file modifications"},
	{[]string{"Credential dumping via lsass access", "Credential dumping via lsass access on {host}",
		"Mimikatz-like tool executed on {host}", "Kerberoasting activity from {host}"},
		[]string{"credential-access"}, []int{1, 4, 5}, "LSASS memory read by untrusted process"},
	{[]string{"Suspicious PowerShell download cradle", "Encoded PowerShell command on {host}",
		"Office macro spawned cmd.exe on {host}"},
		[]string{"execution"}, []int{3, 5, 2}, "PowerShell downloading and executing content"},
	{[]string{"Lateral movement via PsExec from {host}", "Remote service created on {host}",
		"RDP brute force against {host}"},
		[]string{"lateral-movement"}, []int{1, 4, 4}, "Remote execution via service creation"},
	{[]string{"Phishing attachment opened on {host}", "User clicked malicious link on {host}",
		"Suspicious ISO mounted from e-mail on {host}"},
		[]string{"phishing"}, []int{4, 5, 1}, "Child process of mail client"},
	{[]string{"Large upload to cloud storage from {host}", "Data staged for exfiltration on {host}",
		"Archive with customer records created on {host}"},
		[]string{"exfiltration"}, []int{2, 4, 4}, "Unusual outbound data volume"},
	{[]string{"Scheduled task persistence on {host}", "Run key persistence created on {host}",
		"WMI event subscription on {host}"},
		[]string{"persistence"}, []int{4, 4, 2}, "Autostart entry created by unsigned binary"},
	{[]string{"Network scanning from {host}", "AD enumeration via BloodHound on {host}",
		"Unusual LDAP queries from {host}"},
		[]string{"discovery"}, []int{6, 3, 1}, "Internal reconnaissance"},
	{[]string{"Potentially unwanted application on {host}", "Coin miner detected on {host}",
		"Adware browser extension on {host}"},
		[]string{"pua"}, []int{7, 3, 0}, "Potentially unwanted application"},
}

// oddTitles exercise quoting and escaping in every layer that forwards a
// title: CEL string literals, JSON, terminals. Drivers must survive them.
var oddTitles = []string{
	`Process "svchost.exe" started from C:\Users\Public\tmp on {host}`,
	`Dropper (stage 2) contacted C2 server from {host}`,
	`") || true || ("`,
	`Überwachung – verdächtiger Prozess auf {host}`,
	`Accès suspect au fichier SAM sur {host}`,
	`MiXeD CaSe ALERT from {host}`,
	`Script ran \\fileserver\share\payload.ps1 on {host}`,
	`Ransomware note 'README_RESTORE.txt' found on {host}`,
	`Rule "Suspicious \"quoted\" args" (v2) matched on {host}`,
	`Rule x") || true || (" matched on {host}`,
	`Zugriff auf Anmeldedaten (lsass) – Gerät {host}`,
}

var tagPool = []string{
	"ransomware", "lateral-movement", "credential-access", "pii", "urgent",
	"phishing", "exfiltration", "persistence", "execution", "discovery",
	"vip", "false-positive-candidate", "pua", "needs-review",
}

var processes = []string{
	`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
	`C:\Windows\System32\cmd.exe`, `C:\Windows\System32\rundll32.exe`,
	`C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`,
	`C:\Users\Public\svc.exe`, `C:\Windows\System32\wbem\WmiPrvSE.exe`,
	`/usr/bin/python3`, `/bin/bash`,
}

// generate builds the dataset; it is a pure function of its arguments.
func generate(seed int64, n int, now time.Time) []*record {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x65736574 /* "eset" */))

	devices := make([]device, devicePool)
	for i := range devices {
		// Numbers climb in random steps per prefix: names look organic and
		// never repeat, so a title names exactly one device.
		p, round := devicePrefixes[i%len(devicePrefixes)], i/len(devicePrefixes)
		devices[i] = device{uuidFrom(rng), fmt.Sprintf("%s-%03d", p, 1+round*7+rng.IntN(7))}
	}
	shareFleet(devices)
	assignees := make([]string, assigneePool)
	for i := range assignees {
		assignees[i] = uuidFrom(rng)
	}

	recs := make([]*record, n)
	for i := range recs {
		recs[i] = generateOne(rng, now, devices, assignees)
	}
	slices.SortFunc(recs, func(a, b *record) int {
		return cmp.Or(a.inc.CreateTime.Compare(b.inc.CreateTime), cmp.Compare(a.inc.UUID, b.inc.UUID))
	})
	plantInjections(recs)
	return recs
}

func generateOne(rng *rand.Rand, now time.Time, devices []device, assignees []string) *record {
	sc := scenarios[rng.IntN(len(scenarios))]

	// A skewed device pick: a few hosts show up in many incidents, as real
	// fleets have their usual suspects.
	nDev := 1 + simdata.Pick(rng, []int{55, 25, 12, 8})
	devs := make([]string, 0, nDev)
	hosts := make([]device, 0, nDev)
	var first device
	for len(devs) < nDev {
		d := devices[int(float64(devicePool)*rng.Float64()*rng.Float64())]
		if slices.Contains(devs, d.uuid) {
			continue
		}
		if len(devs) == 0 {
			first = d
		}
		devs = append(devs, d.uuid)
		hosts = append(hosts, d)
	}

	title := sc.titles[rng.IntN(len(sc.titles))]
	if rng.IntN(100) < 5 {
		title = oddTitles[rng.IntN(len(oddTitles))]
	}
	title = strings.ReplaceAll(title, "{host}", first.name)

	proc := processes[rng.IntN(len(processes))]
	desc := fmt.Sprintf("ESET Inspect rule %q triggered on %s. Parent process: %s. %d related events in the last hour.",
		sc.rule, first.name, proc, 1+rng.IntN(400))
	if rng.IntN(10) == 0 {
		desc = ""
	}

	tags := slices.Clone(sc.tags)
	for extra := simdata.Pick(rng, []int{30, 30, 20, 10, 6, 4}); len(tags) < 5 && extra > 0; extra-- {
		t := tagPool[rng.IntN(len(tagPool))]
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	// Some incidents carry no tags at all, as fresh ones do.
	if rng.IntN(8) == 0 {
		tags = []string{}
	}

	created := now.Add(-time.Minute - time.Duration(rng.Int64N(int64(datasetWindow-time.Minute))))
	created = created.Truncate(time.Millisecond)
	age := now.Sub(created)

	status := statuses[simdata.Pick(rng, []int{35, 18, 40, 7})]
	inc := Incident{
		UUID:        uuidFrom(rng),
		DisplayName: title,
		Description: desc,
		CreateTime:  created,
		Severity:    severities[simdata.Pick(rng, sc.sev)],
		Status:      status,
		Tags:        tags,
		DeviceUUIDs: devs,
		Metrics: Metrics{
			DeviceCount: int64(len(devs)),
		},
		TriageDuration:   "0s",
		ResponseDuration: "0s",
	}
	inc.Metrics.ExecutableCount = int64(len(devs) * (1 + rng.IntN(4)))
	inc.Metrics.ProcessCount = inc.Metrics.ExecutableCount + int64(rng.IntN(20))
	for range 1 + rng.IntN(8) {
		inc.DetectionUUIDs = append(inc.DetectionUUIDs, uuidFrom(rng))
	}

	// Only open incidents may lack an assignee (the vendor's own rule), and
	// most of them do: that yields roughly 30% unassigned overall.
	if status != StatusOpen || rng.IntN(100) < 15 {
		inc.AssigneeUUID = assignees[rng.IntN(len(assignees))]
	}

	// updateTime lands after creation and never after now.
	update := created.Add(time.Duration(rng.Float64() * float64(age)))
	if update.After(now) {
		update = now
	}
	inc.UpdateTime = update.Truncate(time.Millisecond)
	if !inc.UpdateTime.After(created) {
		inc.UpdateTime = created.Add(time.Millisecond)
	}
	if status != StatusOpen {
		triage := time.Duration(rng.Float64() * float64(inc.UpdateTime.Sub(created)))
		inc.TriageDuration = durationString(triage)
	}

	rec := &record{inc: inc, hosts: hosts}
	if status == StatusClosed {
		inc := &rec.inc
		inc.ResolveReason = []string{ResolveTruePositive, ResolveFalsePositive, ResolveSuspicious}[simdata.Pick(rng, []int{45, 40, 15})]
		inc.ResponseDuration = durationString(inc.UpdateTime.Sub(created))
		rec.comments = []comment{{
			UUID:           uuidFrom(rng),
			Text:           closingNotes[rng.IntN(len(closingNotes))],
			CreateTime:     inc.UpdateTime,
			AuthorUUID:     inc.AssigneeUUID,
			IsFinalComment: true,
		}}
	}
	return rec
}

var closingNotes = []string{
	"Host isolated and reimaged; credentials rotated.",
	"Confirmed benign admin script, added exclusion.",
	"Blocked hash across the fleet. Monitoring for recurrence.",
	"User confirmed they did not open the attachment; mailbox purged.",
	"Activity matches the quarterly pentest.",
}
