package kasperskysim

import (
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
)

// Names of the default tenants.
const (
	TenantRoot       = "Root"
	TenantBranchEU   = "Branch-EU"
	TenantRestricted = "Branch-Restricted"
)

// DefaultTenants is the tenant tree used when Config.Tenants is empty: a root with two
// branches, the last of which DefaultToken cannot read. IDs are derived from the names,
// so they are the same for every seed and can be written into demo configuration.
func DefaultTenants() []Tenant {
	root, eu, restricted := nameUUID("tenant "+TenantRoot), nameUUID("tenant "+TenantBranchEU), nameUUID("tenant "+TenantRestricted)
	return []Tenant{
		{ID: root, Name: TenantRoot, Description: "Head office (root tenant)", IsRoot: true, Subtenants: []string{eu, restricted}},
		{ID: eu, Name: TenantBranchEU, Description: "European branch offices", Removable: true, Subtenants: []string{}},
		{ID: restricted, Name: TenantRestricted, Description: "Subsidiary the demo token has no rights in", Removable: true, Subtenants: []string{}},
	}
}

// The default tenants' share of the dataset and whether DefaultToken reads them. The
// restricted tenant holds real incidents so that a leak through a filter would show.
var (
	defaultTenantWeights = []int{45, 40, 15}
	defaultReadable      = []bool{true, true, false}
)

// customTenants fills in what a caller's tenant list may leave out: an ID (derived from
// the name, as for the defaults) and a non-nil Subtenants so it encodes as [].
func customTenants(in []Tenant) ([]Tenant, []int, []bool) {
	out := make([]Tenant, len(in))
	weights, readable := make([]int, len(in)), make([]bool, len(in))
	for i, t := range in {
		if t.ID == "" {
			t.ID = nameUUID("tenant " + t.Name)
		}
		t.Subtenants = append([]string{}, t.Subtenants...)
		out[i], weights[i], readable[i] = t, 1, true
	}
	return out, weights, readable
}

// nameUUID is a name-based (version 5 layout) UUID: stable across runs and seeds.
func nameUUID(name string) string {
	sum := sha1.Sum([]byte("kasperskysim/" + name))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

var severities = []string{"low", "medium", "high", "critical"}

// scenario is one kind of incident: a title template and the facts that go with it, so
// that a record's title, rule, MITRE ids and observables tell the same story.
// Placeholders: {host}, {host2}, {user}, {domain}, {ip}.
type scenario struct {
	title, desc string
	weight      int
	severity    int // index into severities
	tactics     []string
	techniques  []string
	rule        string
	ruleType    string
	tech        []string // detection technologies
	hosts       int      // minimum number of hosts the title needs
	user        bool     // title names an account
	network     bool     // has a remote domain/IP
	file        bool     // has a file with hashes
}

var scenarios = []scenario{
	{title: "Possible lateral movement via PsExec from {host} to {host2}", desc: "PsExec service PSEXESVC was created remotely on {host2} by a session originating from {host}.", weight: 6, severity: 2, tactics: []string{"TA0008", "TA0002"}, techniques: []string{"T1021.002", "T1569.002"}, rule: "Remote service creation via PsExec", ruleType: "IOA", tech: []string{"IOA", "Behavior Detection"}, hosts: 2},
	{title: "Suspicious PowerShell encoded command on {host}", desc: "powershell.exe was started with -EncodedCommand by a non-interactive parent process on {host}.", weight: 8, severity: 1, tactics: []string{"TA0002", "TA0005"}, techniques: []string{"T1059.001", "T1027"}, rule: "PowerShell with encoded command line", ruleType: "IOA", tech: []string{"IOA", "AMSI"}, hosts: 1},
	{title: "Credential dumping attempt: LSASS memory access on {host}", desc: "A process opened lsass.exe with PROCESS_VM_READ rights and wrote a minidump on {host}.", weight: 5, severity: 3, tactics: []string{"TA0006"}, techniques: []string{"T1003.001"}, rule: "LSASS memory dump", ruleType: "IOA", tech: []string{"IOA", "Behavior Detection", "Exploit Prevention"}, hosts: 1, file: true},
	{title: "Multiple failed logons for {user} followed by a success on {host}", desc: "27 failed logons (4625) for {user} within 5 minutes were followed by a successful logon (4624).", weight: 6, severity: 1, tactics: []string{"TA0006", "TA0001"}, techniques: []string{"T1110.001", "T1078"}, rule: "Brute force followed by successful logon", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	{title: "Ransomware behavior detected: mass file encryption on {host}", desc: "Over 900 files on {host} were rewritten with high entropy and a new extension within two minutes.", weight: 3, severity: 3, tactics: []string{"TA0040"}, techniques: []string{"T1486"}, rule: "Mass file modification with encryption", ruleType: "IOA", tech: []string{"Behavior Detection", "Remediation Engine"}, hosts: 1, file: true},
	{title: "Connection to known C2 domain {domain} from {host}", desc: "{host} resolved and connected to {domain}, listed in Kaspersky Threat Intelligence as command-and-control.", weight: 6, severity: 2, tactics: []string{"TA0011"}, techniques: []string{"T1071.001"}, rule: "Connection to C2 from threat feed", ruleType: "IOC", tech: []string{"IOC", "Network Threat Protection"}, hosts: 1, network: true},
	{title: "Phishing attachment opened by {user}: macro spawned cmd.exe on {host}", desc: "WINWORD.EXE started cmd.exe after {user} opened an attachment received from an external sender.", weight: 5, severity: 2, tactics: []string{"TA0001", "TA0002"}, techniques: []string{"T1566.001", "T1204.002"}, rule: "Office application spawns command shell", ruleType: "IOA", tech: []string{"IOA", "Sandbox"}, hosts: 1, user: true, file: true},
	{title: "New service installed on {host} (possible persistence)", desc: "A service with an unsigned binary in a user-writable path was registered on {host}.", weight: 5, severity: 1, tactics: []string{"TA0003", "TA0004"}, techniques: []string{"T1543.003"}, rule: "Service created with binary in temp folder", ruleType: "IOA", tech: []string{"IOA"}, hosts: 1, file: true},
	{title: "Scheduled task created with SYSTEM privileges on {host}", desc: "schtasks.exe created a task running as SYSTEM every 10 minutes on {host}.", weight: 5, severity: 1, tactics: []string{"TA0003", "TA0002"}, techniques: []string{"T1053.005"}, rule: "Scheduled task with SYSTEM rights", ruleType: "IOA", tech: []string{"IOA"}, hosts: 1},
	{title: "Kerberoasting: anomalous TGS requests by {user}", desc: "{user} requested RC4-encrypted service tickets for 41 SPNs within one minute.", weight: 3, severity: 2, tactics: []string{"TA0006"}, techniques: []string{"T1558.003"}, rule: "Kerberoasting RC4 ticket burst", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	{title: "DCSync replication request from non-DC host {host}", desc: "{host}, which is not a domain controller, issued DRSUAPI GetNCChanges requests.", weight: 2, severity: 3, tactics: []string{"TA0006"}, techniques: []string{"T1003.006"}, rule: "Directory replication from non-DC", ruleType: "Correlation", tech: []string{"Correlation", "Network Threat Protection"}, hosts: 1, user: true},
	{title: "Suspicious RDP session to {host} from external IP {ip}", desc: "An RDP session from {ip}, never seen before in this network, logged on to {host}.", weight: 4, severity: 2, tactics: []string{"TA0001", "TA0008"}, techniques: []string{"T1133", "T1021.001"}, rule: "External RDP logon", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true, network: true},
	{title: "Data exfiltration over HTTPS to {domain} from {host}", desc: "{host} uploaded 2.4 GB to {domain} outside working hours.", weight: 3, severity: 2, tactics: []string{"TA0010"}, techniques: []string{"T1041", "T1567.002"}, rule: "Large upload to file-sharing service", ruleType: "Correlation", tech: []string{"Correlation", "Network Threat Protection"}, hosts: 1, network: true},
	{title: "Malicious file detected and quarantined on {host}", desc: "Kaspersky Endpoint Security detected and quarantined a Trojan on {host}; no further activity observed.", weight: 9, severity: 0, tactics: []string{"TA0002"}, techniques: []string{"T1204.002"}, rule: "Anti-Malware detection", ruleType: "IOC", tech: []string{"Anti-Malware"}, hosts: 1, file: true},
	{title: "Account {user} added to Domain Admins", desc: "{user} was added to the Domain Admins group outside of a change window.", weight: 3, severity: 2, tactics: []string{"TA0004", "TA0003"}, techniques: []string{"T1098"}, rule: "Privileged group membership change", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	{title: "Windows event logs cleared on {host}", desc: "The Security log on {host} was cleared (event 1102) by wevtutil.exe.", weight: 3, severity: 2, tactics: []string{"TA0005"}, techniques: []string{"T1070.001"}, rule: "Security event log cleared", ruleType: "IOA", tech: []string{"IOA"}, hosts: 1},
	{title: "Port scan from {host} against internal subnet", desc: "{host} probed 1,024 ports on 212 internal addresses within 3 minutes.", weight: 4, severity: 1, tactics: []string{"TA0007"}, techniques: []string{"T1046"}, rule: "Internal horizontal port scan", ruleType: "Correlation", tech: []string{"Network Threat Protection"}, hosts: 1},
	{title: "Mimikatz-like tool execution on {host}", desc: "A binary with Mimikatz command-line arguments (sekurlsa::logonpasswords) ran on {host}.", weight: 2, severity: 3, tactics: []string{"TA0006"}, techniques: []string{"T1003", "T1003.001"}, rule: "Mimikatz command line", ruleType: "YARA", tech: []string{"YARA", "IOA"}, hosts: 1, file: true},
	{title: "Web shell activity on {host} (w3wp.exe spawned cmd.exe)", desc: "The IIS worker process on {host} started cmd.exe running whoami and net user.", weight: 2, severity: 3, tactics: []string{"TA0003", "TA0002"}, techniques: []string{"T1505.003", "T1059.003"}, rule: "Web server process spawns shell", ruleType: "IOA", tech: []string{"IOA", "Behavior Detection"}, hosts: 1, file: true},
	{title: "Living-off-the-land: certutil download on {host}", desc: "certutil.exe -urlcache fetched an executable from {domain} on {host}.", weight: 4, severity: 1, tactics: []string{"TA0011", "TA0005"}, techniques: []string{"T1105", "T1140"}, rule: "Certutil used to download file", ruleType: "IOA", tech: []string{"IOA"}, hosts: 1, network: true, file: true},
	{title: "Adware/PUA detected on {host}", desc: "A potentially unwanted application bundled with a browser toolbar was found on {host}.", weight: 6, severity: 0, tactics: []string{"TA0002"}, techniques: []string{"T1204"}, rule: "Not-a-virus: AdWare", ruleType: "IOC", tech: []string{"Anti-Malware"}, hosts: 1, file: true},
	{title: "Suspicious WMI remote execution from {host}", desc: "wmiprvse.exe on a remote host started a process on behalf of {host}.", weight: 3, severity: 1, tactics: []string{"TA0002", "TA0008"}, techniques: []string{"T1047"}, rule: "Remote WMI process creation", ruleType: "IOA", tech: []string{"IOA"}, hosts: 2},
	{title: "Brute force against VPN gateway for {user}", desc: "The VPN gateway rejected 312 logons for {user} from {ip}.", weight: 4, severity: 1, tactics: []string{"TA0006"}, techniques: []string{"T1110.003"}, rule: "VPN password spraying", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true, network: true},
	{title: "Shadow copies deleted via vssadmin on {host}", desc: "vssadmin delete shadows /all /quiet ran on {host}, a common ransomware precursor.", weight: 2, severity: 3, tactics: []string{"TA0040"}, techniques: []string{"T1490"}, rule: "Volume shadow copy deletion", ruleType: "IOA", tech: []string{"IOA", "Behavior Detection"}, hosts: 1},
	{title: "DNS tunneling suspected from {host}", desc: "{host} sent 18,000 TXT queries with high-entropy labels under {domain}.", weight: 3, severity: 1, tactics: []string{"TA0011"}, techniques: []string{"T1071.004"}, rule: "High-entropy DNS queries", ruleType: "Correlation", tech: []string{"Network Threat Protection"}, hosts: 1, network: true},
	{title: "Unusual logon time for privileged account {user}", desc: "{user} logged on to {host} at 03:12 local time; the account has no history of night logons.", weight: 4, severity: 0, tactics: []string{"TA0001"}, techniques: []string{"T1078.002"}, rule: "Privileged logon outside working hours", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	// Non-ASCII titles: real consoles are localized and analysts write in their language.
	{title: "Подозрительная активность PowerShell на {host}", desc: "Обнаружен запуск powershell.exe с закодированной командой на {host}.", weight: 2, severity: 1, tactics: []string{"TA0002"}, techniques: []string{"T1059.001"}, rule: "PowerShell with encoded command line", ruleType: "IOA", tech: []string{"IOA", "AMSI"}, hosts: 1},
	{title: "Verdächtige Anmeldung für {user} – Konto gesperrt", desc: "Nach 15 Fehlversuchen wurde das Konto {user} auf {host} gesperrt.", weight: 1, severity: 1, tactics: []string{"TA0006"}, techniques: []string{"T1110"}, rule: "Account lockout after failed logons", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	{title: "不審なログイン: {user} による深夜のアクセス ({host})", desc: "{user} が通常と異なる時間帯に {host} へログインしました。", weight: 1, severity: 0, tactics: []string{"TA0001"}, techniques: []string{"T1078"}, rule: "Privileged logon outside working hours", ruleType: "Correlation", tech: []string{"Correlation"}, hosts: 1, user: true},
	{title: "Ransomware-Verdacht auf Dateiserver {host} ⚠", desc: "Massenhafte Umbenennung von Dateien auf {host} erkannt.", weight: 1, severity: 3, tactics: []string{"TA0040"}, techniques: []string{"T1486"}, rule: "Mass file modification with encryption", ruleType: "IOA", tech: []string{"Behavior Detection"}, hosts: 1, file: true},
}

// literalTitles are placed in every dataset large enough to hold them. They carry regex
// metacharacters, a backslash path, a control character and non-ASCII text, so a driver
// that forwards a title search unescaped (or escapes it wrongly) fails visibly.
var literalTitles = []string{
	`a.b*(c)[d]+$`,
	`Alert: C:\Windows\Temp\x.exe (dropper)`,
	`50% match | rule?`,
	`^anchored {2,3} \d+ not a digit class`,
	"Tab\tseparated: cmd.exe /c \"whoami\"",
	`Доступ к C:\Users\Иван — запрещён (ÄÖÜ, 日本語)`,
}

// Extra rules that often fire next to a scenario's own rule.
var extraRules = []struct{ name, typ string }{
	{"Process started from user temp directory", "IOA"},
	{"Unsigned executable with low prevalence", "IOC"},
	{"Network connection by script interpreter", "IOA"},
	{"Execution from removable drive", "IOA"},
	{"Suspicious parent-child process chain", "IOA"},
	{"Known malicious hash (KL TIP)", "IOC"},
}

var analystNames = []string{"Alexey Smirnov", "Maria Kovalenko", "John Carter", "Priya Natarajan", "Jonas Becker", "Chloé Dubois", "Kenji Watanabe", "Fatima Al-Sayed"}

type person struct{ first, last, login string } // login: ASCII sam name stem

var people = []person{
	{"Ivan", "Petrov", "ipetrov"}, {"Anna", "Schmidt", "aschmidt"}, {"John", "Smith", "jsmith"},
	{"María", "García", "mgarcia"}, {"Hiroshi", "Tanaka", "htanaka"}, {"Olga", "Ivanova", "oivanova"},
	{"Lukas", "Müller", "lmueller"}, {"Zoë", "Martin", "zmartin"}, {"Søren", "Hansen", "shansen"},
	{"Agnieszka", "Wójcik", "awojcik"}, {"David", "Cohen", "dcohen"}, {"Emma", "Johansson", "ejohansson"},
	{"Luca", "Rossi", "lrossi"}, {"Sophie", "Laurent", "slaurent"}, {"Ahmed", "Hassan", "ahassan"},
	{"Elena", "Popescu", "epopescu"}, {"Michael", "Brown", "mbrown"}, {"Yuki", "Sato", "ysato"},
	{"Pierre", "Lefèvre", "plefevre"}, {"Katarzyna", "Nowak", "knowak"}, {"Дмитрий", "Соколов", "dsokolov"},
	{"Sarah", "O'Neill", "soneill"}, {"Mehmet", "Yılmaz", "myilmaz"}, {"Ingrid", "Berg", "iberg"},
}

var departments = []struct{ name, code, title string }{
	{"Finance", "FIN", "Financial Analyst"}, {"Human Resources", "HR", "HR Business Partner"},
	{"Accounting", "ACC", "Senior Accountant"}, {"Engineering", "DEV", "Software Engineer"},
	{"Marketing", "MKT", "Marketing Manager"}, {"Operations", "OPS", "Operations Specialist"},
	{"Sales", "SALES", "Account Executive"}, {"Legal", "LEGAL", "Legal Counsel"},
	{"IT", "IT", "System Administrator"},
}

var serverRoles = []string{"DB", "WEB", "APP", "FILE", "EXCH", "SQL", "BKP", "CI", "PRN", "RDS"}

var cities = []struct{ city, street string }{
	{"London", "1 Example Street"}, {"Berlin", "Beispielstraße 12"}, {"Paris", "5 rue de l'Exemple"},
	{"Madrid", "Calle Ejemplo 7"}, {"Warsaw", "ul. Przykładowa 3"}, {"Moscow", "ул. Примерная, 9"},
}

type osInfo struct{ name, version, product, productVersion string }

var (
	workstationOS = []osInfo{
		{"Windows 10 Enterprise", "10.0.19045", "Kaspersky Endpoint Security for Windows", "12.5.0.538"},
		{"Windows 11 Enterprise", "10.0.22631", "Kaspersky Endpoint Security for Windows", "12.6.0.438"},
		{"macOS Sonoma", "14.4.1", "Kaspersky Endpoint Security for Mac", "12.1.0.650"},
	}
	serverOS = []osInfo{
		{"Windows Server 2019 Standard", "10.0.17763", "Kaspersky Endpoint Security for Windows", "12.5.0.538"},
		{"Windows Server 2022 Datacenter", "10.0.20348", "Kaspersky Endpoint Security for Windows", "12.6.0.438"},
		{"Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "Kaspersky Endpoint Security for Linux", "12.1.0.1297"},
		{"Red Hat Enterprise Linux 9.3", "5.14.0-362.el9", "Kaspersky Endpoint Security for Linux", "12.1.0.1297"},
	}
)

// tenantPool is one tenant's inventory. Incidents draw their hosts and accounts from it,
// as in a real network where the same machines and people recur across incidents; it
// also lets 50 000 incidents share a few thousand inventory records.
type tenantPool struct {
	tenant  Tenant
	domain  string // DNS domain
	netbios string
	ksc     string
	sid     string // domain SID prefix
	subnet  int
	hosts   []*HostInfo
	users   []*UserInfo
}

type generator struct {
	r         *rand.Rand
	now       time.Time
	nowMs     int64
	pools     []*tenantPool
	weights   []int
	readable  []bool
	analysts  []Assignee
	noData    map[string]string // shared empty map: encodes as {} without one allocation per record
	ruleIDs   map[string]string
	scenarioW int
}

// generate builds the dataset. Every random draw comes from one PCG stream in a fixed
// order, so the same Config always yields the same records.
func generate(cfg Config, tenants []Tenant, weights []int, readable []bool) []*Incident {
	// The vendor keeps milliseconds; a finer Now would give records times that their own
	// JSON cannot carry, and a client's decoded copy would differ from Incidents().
	now := cfg.Now.UTC().Truncate(time.Millisecond)
	g := &generator{
		r:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6b61737065727379)),
		now:      now,
		nowMs:    now.UnixMilli(),
		weights:  weights,
		readable: readable,
		noData:   map[string]string{},
		ruleIDs:  map[string]string{},
	}
	for _, s := range scenarios {
		g.scenarioW += s.weight
	}
	for _, name := range analystNames {
		g.analysts = append(g.analysts, Assignee{ID: g.uuid(), Name: name})
	}
	n := cfg.Incidents
	hostsPer := min(24+n/(12*len(tenants)), 3000)
	usersPer := min(16+n/(20*len(tenants)), 2000)
	for i, t := range tenants {
		g.pools = append(g.pools, g.pool(i, t, hostsPer, usersPer))
	}

	// Creation times first, sorted, so IDs follow creation order as a console's would.
	const window = 90 * 24 * time.Hour
	ages := make([]int64, n)
	for i := range ages {
		ages[i] = 1 + g.r.Int64N(window.Milliseconds())
	}
	slices.SortFunc(ages, func(a, b int64) int { return cmp.Compare(b, a) }) // oldest first

	literalAt := map[int]string{}
	if n >= len(literalTitles) {
		for k, title := range literalTitles {
			literalAt[(2*k+1)*n/(2*len(literalTitles))] = title
		}
	}
	out := make([]*Incident, n)
	for i := range out {
		out[i] = g.incident(i+1, g.now.Add(-time.Duration(ages[i])*time.Millisecond), literalAt[i])
	}
	plantInjections(out, tenants, readable)
	return out
}

func (g *generator) pool(idx int, t Tenant, nHosts, nUsers int) *tenantPool {
	slug := strings.ToLower(strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, t.Name))
	p := &tenantPool{tenant: t, domain: "corp.example.com", netbios: "CORP", subnet: 10 + idx}
	if !t.IsRoot {
		p.domain = slug + ".corp.example.com"
		p.netbios = strings.ToUpper(strings.ReplaceAll(slug, "-", ""))
		if len(p.netbios) > 15 { // NetBIOS names are at most 15 characters
			p.netbios = p.netbios[:15]
		}
	}
	p.ksc = "ksc01." + p.domain
	p.sid = fmt.Sprintf("S-1-5-21-%d-%d-%d", 1e9+g.r.IntN(1e9), 1e9+g.r.IntN(1e9), 1e9+g.r.IntN(1e9))
	for i := range nHosts {
		p.hosts = append(p.hosts, g.host(p, i))
	}
	for i := range nUsers {
		p.users = append(p.users, g.user(p, i))
	}
	if t.IsRoot {
		shareFleet(p)
	}
	return p
}

func (g *generator) host(p *tenantPool, i int) *HostInfo {
	var name, group string
	var os osInfo
	weight, categories := "low", []string{"Workstations"}
	var kics *KICSInfo
	switch x := g.r.IntN(100); {
	case x < 3: // OT devices appear only where KICS monitors an industrial segment
		name = fmt.Sprintf("PLC-GW-%02d", i+1)
		os = osInfo{"Siemens SIMATIC", "V2.9.4", "Kaspersky Industrial CyberSecurity for Nodes", "3.2.0.1156"}
		group, weight, categories = "Managed devices/OT", "critical", []string{"OT devices"}
		kics = &KICSInfo{
			Status: "connected", ServerIP: fmt.Sprintf("10.%d.200.10", p.subnet), ConnectorID: 1 + g.r.IntN(4), DeviceID: 1000 + i,
			Hardware: KICSVersion{Model: "SIMATIC S7-1500", Version: "CPU 1516-3 PN/DP", Vendor: "Siemens"},
			Software: KICSVersion{Model: "S7-1500 firmware", Version: "V2.9.4", Vendor: "Siemens"},
			Risks: []KICSRisk{{ID: 1 + g.r.IntN(5000), Name: "Unauthenticated S7comm access", Category: "Vulnerability",
				Description:    "The controller accepts program changes without authentication.",
				DescriptionURL: "https://cert-portal.siemens.com/productcert/html/ssa-000000.html", Severity: 3, Cvss: 8.1}},
		}
	case x < 33:
		role := serverRoles[g.r.IntN(len(serverRoles))]
		os = serverOS[g.r.IntN(len(serverOS))]
		name = fmt.Sprintf("SRV-%s-%02d", role, i+1)
		if strings.HasPrefix(os.name, "Ubuntu") || strings.HasPrefix(os.name, "Red Hat") {
			name = fmt.Sprintf("lnx-%s-%02d", strings.ToLower(role), i+1)
		}
		if i%40 == 0 { // a few domain controllers per tenant
			name, os = fmt.Sprintf("DC-%02d", i/40+1), serverOS[1]
			categories = []string{"Servers", "Domain controllers"}
		} else {
			categories = []string{"Servers"}
		}
		group, weight = "Managed devices/Servers", []string{"medium", "high", "critical"}[g.r.IntN(3)]
	default:
		d := departments[g.r.IntN(len(departments))]
		os = workstationOS[g.r.IntN(len(workstationOS))]
		prefix := "WS"
		if strings.HasPrefix(os.name, "macOS") {
			prefix = "MAC"
		}
		name = fmt.Sprintf("%s-%s-%03d", prefix, d.code, i+1)
		group = "Managed devices/Workstations/" + d.name
	}
	created := g.nowMs - (30+g.r.Int64N(900))*day
	seen := g.nowMs - g.r.Int64N(3*day)
	h := &HostInfo{
		ID:               g.uuid(),
		TenantID:         p.tenant.ID,
		DisplayName:      name,
		AssetSource:      "ksc",
		CreatedAt:        created,
		IpAddress:        []string{fmt.Sprintf("10.%d.%d.%d", p.subnet, 1+g.r.IntN(60), 2+g.r.IntN(250))},
		Fqdn:             []string{strings.ToLower(name) + "." + p.domain},
		MacAddress:       []string{g.mac()},
		DirectCategories: categories,
		Weight:           weight,
		CiiCategory:      "notCII",
		OS:               os.name,
		OSVersion:        os.version,
		Sources:          []string{"ksc"},
		LastVisible:      seen,
		Products: []Product{
			{ProductName: os.product, ProductVersion: os.productVersion},
			{ProductName: "Kaspersky Security Center Network Agent", ProductVersion: "15.1.0.20748"},
		},
		KSC: &KSCInfo{
			GroupID: 2 + g.r.IntN(40), GroupName: group, StatusMask: []int{0}, StatusID: 0,
			RtProtectionState: 5, EncryptionState: g.r.IntN(2), EdrStatus: 1,
			LastAvBasesUpdate: seen - g.r.Int64N(6*hour), LastInfoUpdate: seen, LastUpdate: seen,
			LastSystemStart: seen - g.r.Int64N(20*day),
		},
		KICS: kics,
	}
	if g.r.IntN(10) == 0 { // some hosts are multi-homed
		h.IpAddress = append(h.IpAddress, fmt.Sprintf("192.168.%d.%d", g.r.IntN(255), 2+g.r.IntN(250)))
		h.MacAddress = append(h.MacAddress, g.mac())
	}
	if g.r.IntN(8) == 0 { // and some need attention in KSC
		h.KSC.StatusID, h.KSC.StatusMask = 2, []int{4, 256}
	}
	if kics == nil && g.r.IntN(3) == 0 {
		h.Products = append(h.Products, Product{ProductName: "Kaspersky Endpoint Detection and Response Expert", ProductVersion: "6.1.0.1128"})
	}
	return h
}

const (
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)

func (g *generator) user(p *tenantPool, i int) *UserInfo {
	pe := people[g.r.IntN(len(people))]
	d := departments[g.r.IntN(len(departments))]
	c := cities[g.r.IntN(len(cities))]
	sam := fmt.Sprintf("%s%d", pe.login, i+1) // the index keeps logins unique in the pool
	display := pe.first + " " + pe.last
	title := d.title
	groups := []string{"CN=Domain Users,CN=Users," + dc(p.domain), "CN=" + d.code + "-Staff,OU=Groups," + dc(p.domain)}
	if i%12 == 0 { // privileged accounts: the ones incidents about admin rights are about
		sam, display, title = "adm-"+sam, display+" (admin)", "Domain Administrator"
		groups = append(groups, "CN=Domain Admins,CN=Users,"+dc(p.domain))
	}
	u := &UserInfo{
		OsmpID:                     g.uuid(),
		TenantID:                   p.tenant.ID,
		TenantName:                 p.tenant.Name,
		Domain:                     p.netbios,
		CN:                         display,
		DisplayName:                display,
		DistinguishedName:          "CN=" + display + ",OU=" + d.name + ",OU=Users," + dc(p.domain),
		Mail:                       sam + "@" + p.domain,
		MailNickname:               sam,
		Mobile:                     fmt.Sprintf("+44 7700 900%03d", g.r.IntN(1000)),
		ObjectSID:                  fmt.Sprintf("%s-%d", p.sid, 1100+i),
		SamAccountName:             sam,
		SamAccountType:             "805306368",
		TelephoneNumber:            fmt.Sprintf("+44 20 7946 0%03d", g.r.IntN(1000)),
		UserPrincipalName:          sam + "@" + p.domain,
		MemberOf:                   groups,
		Title:                      title,
		Division:                   "Corporate",
		Department:                 d.name,
		Location:                   c.city,
		Company:                    "Example Holding (" + p.tenant.Name + ")",
		StreetAddress:              c.street,
		PhysicalDeliveryOfficeName: c.city + " office",
		ManagedObjects:             []string{},
		UserAccountControl:         "512",
		WhenCreated:                g.nowMs - (60+g.r.Int64N(1500))*day,
		AccountExpires:             0, // never, as for most AD accounts
	}
	u.WhenChanged = u.WhenCreated + g.r.Int64N(g.nowMs-u.WhenCreated)
	if len(p.users) > 0 {
		u.Manager = p.users[g.r.IntN(len(p.users))].DistinguishedName
	}
	if g.r.IntN(3) == 0 {
		u.BadPasswordTime = g.nowMs - g.r.Int64N(30*day)
	}
	if g.r.IntN(25) == 0 {
		u.IsArchived, u.UserAccountControl = true, "514" // disabled accounts still show up in old incidents
	}
	return u
}

// dc turns "corp.example.com" into "DC=corp,DC=example,DC=com".
func dc(domain string) string {
	return "DC=" + strings.ReplaceAll(domain, ".", ",DC=")
}

func (g *generator) incident(id int, created time.Time, literal string) *Incident {
	sc := g.scenario()
	pool := g.pools[g.tenant(literal != "")]
	sev := clamp(sc.severity+[]int{0, 0, 0, -1, 1}[g.r.IntN(5)], 0, 3)
	prio := clamp(sev+[]int{0, 0, -1, 1}[g.r.IntN(4)], 0, 3)

	in := &Incident{
		ID:                    id,
		InternalID:            g.uuid(),
		TenantID:              pool.tenant.ID,
		CreatedAt:             created,
		DetectionTechnologies: slices.Clone(sc.tech),
		Severity:              severities[sev],
		Priority:              severities[prio],
		SignOfCreation:        "auto",
	}
	if g.r.IntN(12) == 0 {
		in.SignOfCreation = "manual"
	}
	if g.r.IntN(8) == 0 {
		in.ExternalRef = fmt.Sprintf("ITSM-%06d", 100000+g.r.IntN(900000))
	}

	// Affected assets: the hosts the title needs plus a few more, and the accounts.
	hosts := g.distinct(len(pool.hosts), max(sc.hosts, 1+g.r.IntN(4)))
	nUsers := g.r.IntN(4)
	if sc.user {
		nUsers = max(nUsers, 1)
	}
	users := g.distinct(len(pool.users), nUsers)
	in.Assets = make([]Asset, 0, len(hosts)+len(users))
	for k, hi := range hosts {
		h := pool.hosts[hi]
		attacker := sc.hosts >= 2 && k == 0 || g.r.IntN(10) == 0
		in.Assets = append(in.Assets, Asset{Data: g.noData, ID: h.ID, Name: h.DisplayName, Type: "host",
			IsAttacker: attacker, IsVictim: !attacker || sc.hosts < 2, KSCServer: pool.ksc, HostInfo: h})
	}
	for _, ui := range users {
		u := pool.users[ui]
		in.Assets = append(in.Assets, Asset{Data: g.noData, ID: u.OsmpID, Name: u.DisplayName, Type: "user",
			IsVictim: true, KSCServer: pool.ksc, UserInfo: u})
	}
	host, host2 := pool.hosts[hosts[0]], pool.hosts[hosts[len(hosts)-1]]
	account := ""
	if len(users) > 0 {
		u := pool.users[users[0]]
		account = u.Domain + `\` + u.SamAccountName
	}
	domain := g.badDomain()
	extIP := fmt.Sprintf("%s.%d", []string{"203.0.113", "198.51.100", "192.0.2"}[g.r.IntN(3)], 1+g.r.IntN(254))
	fill := func(s string) string {
		s = strings.ReplaceAll(s, "{host2}", host2.DisplayName)
		s = strings.ReplaceAll(s, "{host}", host.DisplayName)
		s = strings.ReplaceAll(s, "{user}", account)
		s = strings.ReplaceAll(s, "{domain}", domain)
		return strings.ReplaceAll(s, "{ip}", extIP)
	}
	in.Name = fill(sc.title)
	if literal != "" {
		in.Name = literal
	}

	nAlerts := 1 + g.r.IntN(2+sev)
	for range nAlerts {
		in.AlertIDs = append(in.AlertIDs, g.uuid())
	}
	in.Description = fill(sc.desc) + fmt.Sprintf(" %d alert(s) correlated by rule %q; %d host(s) and %d account(s) involved.",
		nAlerts, sc.rule, len(hosts), len(users))

	for _, t := range sc.tactics {
		in.MITRETactics = append(in.MITRETactics, MITRERef{ID: t})
	}
	for _, t := range sc.techniques {
		in.MITRETechniques = append(in.MITRETechniques, MITRERef{ID: t})
	}
	in.Rules = append(in.Rules, g.rule(sc.rule, sc.ruleType, sev))
	for range g.r.IntN(3) {
		x := extraRules[g.r.IntN(len(extraRules))]
		if !slices.ContainsFunc(in.Rules, func(r Rule) bool { return r.Name == x.name }) {
			in.Rules = append(in.Rules, g.rule(x.name, x.typ, g.r.IntN(sev+1)))
		}
	}

	in.Observables = append(in.Observables, Observable{Type: "ip", Value: host.IpAddress[0], Details: "Address of " + host.DisplayName})
	if account != "" {
		in.Observables = append(in.Observables, Observable{Type: "userName", Value: account, Details: "Account involved"})
	}
	if sc.network {
		in.Observables = append(in.Observables,
			Observable{Type: "domain", Value: domain, Details: "Remote domain"},
			Observable{Type: "ip", Value: extIP, Details: "Remote address"})
		if g.r.IntN(2) == 0 {
			in.Observables = append(in.Observables, Observable{Type: "url", Value: "https://" + domain + "/api/v2/gate.php", Details: "Requested URL"})
		}
	}
	if sc.file {
		path := []string{`C:\Windows\Temp\svchost32.exe`, `C:\Users\Public\update.exe`, `C:\ProgramData\Intel\igfx.dll`, `/tmp/.x/kworker`}[g.r.IntN(4)]
		in.Observables = append(in.Observables,
			Observable{Type: "md5", Value: g.hex(16), Details: path},
			Observable{Type: "sha256", Value: g.hex(32), Details: path})
	}

	g.lifecycle(in)
	g.history(in)
	return in
}

// unassignedPercent: fresh incidents often wait in the queue unowned, worked ones rarely
// are; overall about 30% end up unassigned.
var unassignedPercent = map[string]int{StatusOpen: 70, StatusInProgress: 5, StatusHold: 10, StatusClosed: 20}

// lifecycle sets status, resolution, assignee and the times that follow from them.
// Older incidents are more likely to be closed, as in a working SOC.
func (g *generator) lifecycle(in *Incident) {
	ageMs := g.nowMs - in.CreatedAt.UnixMilli()
	age := float64(ageMs) / float64(90*day)
	switch x := g.r.Float64(); {
	case x < 0.12+0.7*age:
		in.Status = StatusClosed
		in.StatusResolution = []string{ResolutionTruePositive, ResolutionFalsePositive, ResolutionLowPriority, ResolutionMerged}[simdata.Pick(g.r, []int{40, 30, 18, 12})]
	default:
		in.Status = []string{StatusOpen, StatusInProgress, StatusHold}[simdata.Pick(g.r, []int{50, 35, 15})]
	}

	if g.r.IntN(100) >= unassignedPercent[in.Status] {
		a := g.analysts[g.r.IntN(len(g.analysts))]
		in.Assignee = &a
	}

	in.FirstEventTime = in.CreatedAt.Add(-time.Duration(1+g.r.Int64N(6*hour)) * time.Millisecond)
	in.StatusChangedAt = in.CreatedAt
	if in.Status != StatusOpen {
		in.StatusChangedAt = in.CreatedAt.Add(time.Duration(1+g.r.Int64N(min(7*day, ageMs))) * time.Millisecond)
	}
	untilNow := g.nowMs - in.StatusChangedAt.UnixMilli()
	in.UpdatedAt = in.StatusChangedAt.Add(time.Duration(g.r.Int64N(min(2*day, untilNow)+1)) * time.Millisecond)
	span := in.UpdatedAt.Sub(in.FirstEventTime).Milliseconds()
	in.LastEventTime = in.FirstEventTime.Add(time.Duration(g.r.Int64N(span+1)) * time.Millisecond)
}

// history writes the records a console would have kept for the generated lifecycle.
func (g *generator) history(in *Incident) {
	in.HistoryRecords = make([]HistoryRecord, 0, 4)
	rec := func(kind, entity, typ string, at time.Time, params map[string]string) {
		in.HistoryRecords = append(in.HistoryRecords, HistoryRecord{EntityID: entity, EntityKind: kind, TenantID: in.TenantID, Type: typ, CreatedAt: at, Params: params})
	}
	rec("Incident", in.InternalID, "incidentCreated", in.CreatedAt, g.noData)
	if in.Assignee != nil {
		at := in.CreatedAt.Add(time.Duration(g.r.Int64N(in.StatusChangedAt.Sub(in.CreatedAt).Milliseconds()+1)) * time.Millisecond)
		rec("Incident", in.InternalID, "incidentAssigned", at, map[string]string{"assigneeID": in.Assignee.ID, "assigneeName": in.Assignee.Name})
		rec("Alert", in.AlertIDs[0], "alertAssigned", at, map[string]string{"assigneeID": in.Assignee.ID})
	}
	if in.Status != StatusOpen {
		p := map[string]string{"oldStatus": StatusOpen, "newStatus": in.Status}
		if in.StatusResolution != "" {
			p["resolution"] = in.StatusResolution
		}
		rec("Incident", in.InternalID, "incidentStatusChanged", in.StatusChangedAt, p)
	}
}

func (g *generator) rule(name, typ string, sev int) Rule {
	custom := g.r.IntN(5) == 0
	if custom {
		name = "[Custom] " + name
	}
	// The same rule keeps its id across incidents; memoized, as hashing per incident
	// shows up in the 50 000-incident build time.
	id, ok := g.ruleIDs[name]
	if !ok {
		id = nameUUID("rule " + name)
		g.ruleIDs[name] = id
	}
	return Rule{Name: name, ID: id, Type: typ, Custom: custom, Severity: severities[sev],
		Confidence: []string{"high", "medium", "low"}[g.r.IntN(3)]}
}

func (g *generator) scenario() scenario {
	x := g.r.IntN(g.scenarioW)
	for _, s := range scenarios {
		if x < s.weight {
			return s
		}
		x -= s.weight
	}
	return scenarios[len(scenarios)-1]
}

// tenant picks the owning tenant by weight. Literal titles go to readable tenants only,
// so a demo user with the default token can find them.
func (g *generator) tenant(readableOnly bool) int {
	total := 0
	for i, w := range g.weights {
		if !readableOnly || g.readable[i] {
			total += w
		}
	}
	if total == 0 {
		return 0
	}
	x := g.r.IntN(total)
	for i, w := range g.weights {
		if readableOnly && !g.readable[i] {
			continue
		}
		if x < w {
			return i
		}
		x -= w
	}
	return 0
}

// distinct draws k different indexes below n (k <= n), by rejection: k is tiny next to n.
func (g *generator) distinct(n, k int) []int {
	k = min(k, n)
	out := make([]int, 0, k)
	for len(out) < k {
		if x := g.r.IntN(n); !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func (g *generator) badDomain() string {
	a := []string{"cdn-sync", "update-check", "login-verify", "files-share", "telemetry-api", "secure-docs"}[g.r.IntN(6)]
	b := []string{"example.net", "example.org", "test", "invalid"}[g.r.IntN(4)]
	return fmt.Sprintf("%s%d.%s", a, g.r.IntN(100), b)
}

func (g *generator) uuid() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.r.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return formatUUID(b)
}

func (g *generator) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return hex.EncodeToString(b)
}

func (g *generator) mac() string {
	v := g.r.Uint64()
	return fmt.Sprintf("00:1A:%02X:%02X:%02X:%02X", byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
