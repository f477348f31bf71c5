package dlpsim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/internal/simdata"
)

// DatasetSpan is how far back from Config.Now incidents are created.
const DatasetSpan = 90 * 24 * time.Hour

// scenario is one kind of DLP event a policy fires on; the generator fills its
// placeholders ({user}, {file}, {dest}, {endpoint}, {login}) per incident.
type scenario struct {
	title  string
	desc   string
	action string
	dests  []string
	files  []string
	ctypes []string
	tags   []string
	folder string // "" picks a generic user folder
}

// policyDef is one DLP policy: its id and name as the console shows them, how
// often it fires, how severe its incidents tend to be, and what it catches.
type policyDef struct {
	id, name string
	weight   int
	sev      [5]int // weights for informational, low, medium, high, critical
	tags     []string
	scen     []scenario
}

var (
	usbDests      = []string{"USB: SanDisk Cruzer Blade 32GB", "USB: Kingston DataTraveler 64GB", "USB: Samsung T7 Shield SSD", "USB: WD My Passport 2TB"}
	mailDests     = []string{"gmail.com", "outlook.com", "proton.me", "yahoo.com", "gmx.de"}
	cloudDests    = []string{"dropbox.com", "drive.google.com", "wetransfer.com", "mega.nz", "box.com (personal)", "onedrive.live.com"}
	aiDests       = []string{"chat.openai.com", "gemini.google.com", "claude.ai", "copilot.microsoft.com", "chat.deepseek.com"}
	printerDests  = []string{"printer: HP-LaserJet-4F-East", "printer: Canon-iR-C3226-HQ2", "printer: Brother-HL-L2350-Home"}
	genericFolder = []string{"Documents", "Downloads", "Desktop", "OneDrive - Company/Shared", "Documents/Projects"}
)

// policies is the tenant's policy pool (12 policies).
var policies = []policyDef{
	{id: "policy-101", name: "Customer PII Protection", weight: 16, sev: [5]int{5, 15, 35, 35, 10}, tags: []string{"pii"}, scen: []scenario{
		{title: "Sensitive Data Access Violation", desc: "Unauthorized access to customer PII detected: {user} opened {file} on {endpoint}.", action: "file_access", dests: []string{"local"}, files: []string{"customer_data.xlsx", "crm_export_2024.csv", "Kundenliste_Q3.xlsx", "loyalty_members.csv"}, ctypes: []string{"pii", "email_address", "phone_number"}},
		{title: "Customer PII copied to USB", desc: "{user} copied {file} containing customer PII to {dest}.", action: "usb_copy", dests: usbDests, files: []string{"customer_data.xlsx", "crm_export_2024.csv", "support_tickets_with_ssn.csv"}, ctypes: []string{"pii", "ssn"}, tags: []string{"usb"}},
		{title: `File "{file}" emailed to personal address`, desc: "{user} attached {file} to a message sent to an address at {dest}.", action: "email_send", dests: mailDests, files: []string{"customer_data.xlsx", "leads_EMEA.csv", "contacts (1).vcf"}, ctypes: []string{"pii", "email_address"}, tags: []string{"email"}},
	}},
	{id: "policy-102", name: "Source Code Exfiltration", weight: 12, sev: [5]int{2, 8, 30, 40, 20}, tags: []string{"source-code"}, scen: []scenario{
		{title: "Source code uploaded to personal GitHub", desc: "{user} pushed {file} from a corporate repository to {dest}.", action: "git_push", dests: []string{"github.com/{login}-personal", "gitlab.com/{login}", "bitbucket.org/{login}"}, files: []string{"payments-service", "auth-gateway", "mobile-app-ios", "pricing-engine"}, ctypes: []string{"source_code"}, tags: []string{"cloud-upload"}, folder: "src"},
		{title: "Repository archive copied to USB", desc: "{user} copied the archive {file} to {dest}.", action: "usb_copy", dests: usbDests, files: []string{"payments-service.zip", "firmware-v2.tar.gz", "ml-models-main.zip"}, ctypes: []string{"source_code"}, tags: []string{"usb"}, folder: "src"},
		{title: "Proprietary code pasted into ChatGPT", desc: "{user} pasted code from {file} into {dest}.", action: "paste", dests: aiDests, files: []string{"RiskModel.java", "pricing.py", "auth_handler.go"}, ctypes: []string{"source_code"}, tags: []string{"gen-ai"}, folder: "src"},
	}},
	{id: "policy-103", name: "PCI Cardholder Data", weight: 8, sev: [5]int{0, 5, 25, 45, 25}, tags: []string{"pci"}, scen: []scenario{
		{title: "Cardholder data uploaded to personal cloud storage", desc: "{file} with primary account numbers was uploaded by {user} to {dest}.", action: "upload", dests: cloudDests, files: []string{"chargebacks_march.xlsx", "card_batch_0423.csv"}, ctypes: []string{"pci", "credit_card_number"}, tags: []string{"cloud-upload"}},
		{title: "Credit card numbers printed", desc: "{user} printed {file} (card numbers in clear) on {dest}.", action: "print", dests: printerDests, files: []string{"settlement_report.pdf", "card_batch_0423.csv"}, ctypes: []string{"pci", "credit_card_number"}, tags: []string{"print"}},
	}},
	{id: "policy-104", name: "PHI / Patient Records (HIPAA)", weight: 6, sev: [5]int{0, 5, 30, 40, 25}, tags: []string{"phi"}, scen: []scenario{
		{title: "Patient records copied to USB", desc: "{user} copied {file} with patient records to {dest}.", action: "usb_copy", dests: usbDests, files: []string{"patient_roster.xlsx", "lab_results_2024.csv"}, ctypes: []string{"phi", "medical_record_number"}, tags: []string{"usb"}},
		{title: "Données patients copiées sur clé USB", desc: "{user} a copié « {file} » sur {dest}.", action: "usb_copy", dests: usbDests, files: []string{"données_patients_2024.csv", "dossiers_médicaux.xlsx"}, ctypes: []string{"phi"}, tags: []string{"usb"}},
		{title: "PHI attached to external e-mail", desc: "{user} sent {file} to a recipient at {dest}.", action: "email_send", dests: mailDests, files: []string{"discharge_summary.pdf", "claims_export.csv"}, ctypes: []string{"phi"}, tags: []string{"email"}},
	}},
	{id: "policy-105", name: "Financial Reports Leakage", weight: 8, sev: [5]int{5, 20, 40, 30, 5}, tags: []string{"financial"}, scen: []scenario{
		{title: `Pre-release earnings report "{file}" shared externally`, desc: "{user} uploaded {file} to {dest} before the earnings release.", action: "upload", dests: cloudDests, files: []string{"Q3_earnings_draft.xlsx", "FY25 forecast v7.pptx"}, ctypes: []string{"financial_statement"}, tags: []string{"cloud-upload"}},
		{title: "Board deck sent to personal e-mail", desc: "{user} e-mailed {file} to an address at {dest}.", action: "email_send", dests: mailDests, files: []string{"Board_Deck_2024-Q4.pptx", "budget_2025.xlsx"}, ctypes: []string{"financial_statement"}, tags: []string{"email"}},
	}},
	{id: "policy-106", name: "Removable Media Control", weight: 12, sev: [5]int{20, 40, 30, 8, 2}, tags: []string{"usb", "removable-media"}, scen: []scenario{
		{title: "Large file transfer to removable media", desc: "{user} moved {file} to {dest} from {endpoint}.", action: "usb_copy", dests: usbDests, files: []string{"backup_2024.pst", "project_files.zip", "VM-image.vmdk"}, ctypes: []string{"unclassified"}},
		{title: "Unencrypted USB device used for corporate files", desc: "{dest} is not BitLocker/FileVault encrypted; {user} wrote {file} to it.", action: "usb_copy", dests: usbDests, files: []string{"notes.docx", "meeting_minutes.docx", "inventory.xlsx"}, ctypes: []string{"internal"}},
	}},
	{id: "policy-107", name: "Personal Cloud Storage Uploads", weight: 12, sev: [5]int{15, 35, 35, 12, 3}, tags: []string{"cloud-upload"}, scen: []scenario{
		{title: "Corporate documents synced to personal Dropbox", desc: "The desktop sync client on {endpoint} uploaded {file} for {user} to {dest}.", action: "cloud_sync", dests: []string{"dropbox.com"}, files: []string{"contracts_2024.zip", "roadmap.pdf", "Statement of Work – Acme.docx"}, ctypes: []string{"internal", "contract"}},
		{title: "Kundendaten in privaten Cloud-Speicher hochgeladen", desc: "{user} hat „{file}“ nach {dest} hochgeladen.", action: "upload", dests: cloudDests, files: []string{"Kundenliste_Q3.xlsx", "Gehaltsübersicht_Q3.xlsx"}, ctypes: []string{"pii"}, tags: []string{"pii"}},
	}},
	{id: "policy-108", name: "Generative AI Data Submission", weight: 9, sev: [5]int{15, 30, 35, 15, 5}, tags: []string{"gen-ai"}, scen: []scenario{
		{title: "Confidential text pasted into a generative-AI tool", desc: "{user} pasted content from {file} into {dest}.", action: "paste", dests: aiDests, files: []string{"strategy_memo.docx", "incident_postmortem.md", "contract_redlines.docx"}, ctypes: []string{"confidential"}},
		{title: "Customer list uploaded to AI chatbot", desc: "{user} uploaded {file} to {dest} for summarisation.", action: "upload", dests: aiDests, files: []string{"customer_data.xlsx", "churn_analysis.csv"}, ctypes: []string{"pii"}, tags: []string{"pii"}},
	}},
	{id: "policy-109", name: "Credentials & Secrets Exposure", weight: 5, sev: [5]int{0, 10, 30, 40, 20}, tags: []string{"secrets"}, scen: []scenario{
		{title: "AWS access keys found in uploaded file", desc: "{file} uploaded by {user} to {dest} contains AKIA… access keys.", action: "upload", dests: []string{"pastebin.com", "gist.github.com", "hastebin.com"}, files: []string{"config.env", "terraform.tfvars", "deploy_notes.txt"}, ctypes: []string{"secret", "aws_access_key"}, tags: []string{"cloud-upload"}},
		{title: "Private SSH key copied off endpoint", desc: "{user} copied {file} to {dest}.", action: "usb_copy", dests: usbDests, files: []string{"id_ed25519", "id_rsa", "prod-bastion.pem"}, ctypes: []string{"secret", "private_key"}, tags: []string{"usb"}, folder: ".ssh"},
	}},
	{id: "policy-110", name: "HR & Payroll Records", weight: 6, sev: [5]int{5, 20, 40, 30, 5}, tags: []string{"pii", "hr"}, scen: []scenario{
		{title: `Payroll file "{file}" sent to external recruiter`, desc: "{user} e-mailed {file} to a recruiter at {dest}.", action: "email_send", dests: mailDests, files: []string{"payroll_2024.xlsx", "Gehaltsübersicht_Q3.xlsx", "comp_bands.xlsx"}, ctypes: []string{"pii", "salary"}, tags: []string{"email"}},
		{title: "Résumé with salary data shared — review required", desc: "{user} uploaded {file} to {dest}.", action: "upload", dests: cloudDests, files: []string{"résumé_final.pdf", "offer_letter_signed.pdf"}, ctypes: []string{"pii", "salary"}, tags: []string{"cloud-upload"}},
	}},
	{id: "policy-111", name: "M&A Confidential Documents", weight: 3, sev: [5]int{0, 5, 25, 40, 30}, tags: []string{"confidential"}, scen: []scenario{
		{title: "Project 'Falcon' M&A memo uploaded to personal storage", desc: "{user} uploaded {file} to {dest}.", action: "upload", dests: cloudDests, files: []string{"Falcon_LOI_draft.docx", "Falcon_valuation.xlsx"}, ctypes: []string{"confidential", "financial_statement"}, tags: []string{"cloud-upload"}},
		{title: "顧客データの外部送信 (data room export)", desc: "{user} exported {file} from the data room to {dest}.", action: "upload", dests: cloudDests, files: []string{"顧客リスト.xlsx", "due_diligence_index.pdf"}, ctypes: []string{"confidential", "pii"}, tags: []string{"pii"}},
	}},
	{id: "policy-112", name: "Design & CAD Intellectual Property", weight: 3, sev: [5]int{5, 20, 40, 25, 10}, tags: []string{"ip"}, scen: []scenario{
		{title: "CAD drawings uploaded to file-sharing site", desc: "{user} uploaded {file} to {dest}.", action: "upload", dests: cloudDests, files: []string{"housing_rev_C.step", "pcb_layout_v4.brd", "gearbox_assembly.dwg"}, ctypes: []string{"cad", "intellectual_property"}, tags: []string{"cloud-upload"}},
		{title: "Product roadmap printed", desc: "{user} printed {file} on {dest}.", action: "print", dests: printerDests, files: []string{"roadmap_2025.pdf", "spec_sheet_confidential.pdf"}, ctypes: []string{"intellectual_property"}, tags: []string{"print"}},
	}},
}

// analysts are the SOC staff incidents get assigned to.
var analysts = []string{
	"alice.nguyen@company.com", "marcus.berg@company.com", "priya.raman@company.com", "tom.okafor@company.com",
	"sofia.lindqvist@company.com", "daniel.kowalski@company.com", "yuki.tanaka@company.com", "soc-tier2@company.com",
}

var closeNotes = map[string][]string{
	"valid": {
		"Confirmed with the user's manager; file deleted and user retrained.",
		"Escalated to Legal — résumé and offer letter reviewed.",
		`User acknowledged; "customer_data.xlsx" removed from the USB device.`,
		"True positive. HR informed; access revoked.",
	},
	"invalid_data_mislabled": {
		"File contains synthetic test data only; classifier mislabeled it.",
		"Numbers are order ids, not card numbers.",
	},
	"invalid_destination_not_risk": {
		"Destination is the corporate-sanctioned Box tenant.",
		"USB device is an IT-issued encrypted drive (asset tag verified).",
	},
	"invalid_user_exempt": {
		"User is exempt per security exception SEC-4821.",
		"Approved by CISO for the audit engagement.",
	},
	"invalid_other": {
		"Duplicate of an earlier incident.",
		"Endpoint was being re-imaged by IT; activity expected.",
	},
}

var (
	firstNames = []string{"john", "jane", "michael", "emma", "li", "wei", "olga", "ahmed", "fatima", "jose", "zoe", "lukas", "chloe", "raj", "anna", "pierre", "hannah", "kenji", "maria", "noah", "ines", "omar", "sara", "tobias", "mei", "david", "laura", "ivan", "amelie", "kwame"}
	lastNames  = []string{"doe", "smith", "garcia", "muller", "chen", "kim", "novak", "haddad", "rossi", "dubois", "schmidt", "tanaka", "silva", "patel", "ivanova", "okonkwo", "jensen", "moreau", "nakamura", "lopez"}
	closeWts   = []int{40, 15, 20, 10, 15} // parallel to closeReasons
)

type endpointDef struct{ id, name, os string }
type userDef struct {
	id, email, login string
	home             int // index of the user's usual endpoint
}

// generate builds the deterministic dataset: the same seed, n and now always give
// the same incidents, in creation order.
func generate(seed int64, n int, now time.Time) []*record {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))

	endpoints := make([]endpointDef, 150)
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
	code := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alnum[rng.IntN(len(alnum))]
		}
		return string(b)
	}
	for i := range endpoints {
		e := endpointDef{id: fmt.Sprintf("endpoint-%d", 701+i)}
		switch x := rng.IntN(10); {
		case x < 4:
			e.name, e.os = "DESKTOP-"+code(7), "windows"
		case x < 6:
			e.name, e.os = "LAPTOP-"+code(7), "windows"
		case x < 9:
			e.name, e.os = "MBP-"+code(6), "macos"
		default:
			e.name, e.os = fmt.Sprintf("dev-ubuntu-%02d", i%100), "linux"
		}
		endpoints[i] = e
	}
	users := make([]userDef, 300)
	seen := map[string]int{}
	for i := range users {
		login := firstNames[rng.IntN(len(firstNames))] + "." + lastNames[rng.IntN(len(lastNames))]
		seen[login]++
		if c := seen[login]; c > 1 {
			login = fmt.Sprintf("%s%d", login, c)
		}
		users[i] = userDef{id: fmt.Sprintf("user-%d", 101+i), login: login, email: login + "@company.com", home: rng.IntN(len(endpoints))}
	}
	shareFleet(endpoints, users)
	polWts := make([]int, len(policies))
	for i, p := range policies {
		polWts[i] = p.weight
	}

	// Creation instants, oldest first; a few share the previous second, as when
	// one action trips several rules at once, so ties in created_at are real.
	offsets := make([]int64, n)
	span := int64(DatasetSpan/time.Second) - 2
	for i := range offsets {
		offsets[i] = 1 + rng.Int64N(span)
	}
	slices.SortFunc(offsets, func(a, b int64) int { return cmp.Compare(b, a) })
	created := make([]time.Time, n)
	for i, off := range offsets {
		created[i] = now.Add(-time.Duration(off) * time.Second).Truncate(time.Second).UTC()
		if i > 0 && rng.IntN(100) < 4 {
			created[i] = created[i-1]
		}
	}

	ids := map[int]bool{}
	recs := make([]*record, n)
	for i := range recs {
		id := 1_000_000 + rng.IntN(9_000_000)
		for ids[id] {
			id = 1_000_000 + rng.IntN(9_000_000)
		}
		ids[id] = true

		p := &policies[simdata.Pick(rng, polWts)]
		sc := &p.scen[rng.IntN(len(p.scen))]
		// A few users cause most incidents, as in real tenants.
		u := &users[int(math.Pow(rng.Float64(), 2)*float64(len(users)))]
		ep := &endpoints[u.home]
		if rng.IntN(100) < 15 {
			ep = &endpoints[rng.IntN(len(endpoints))]
		}
		sev := simdata.Pick(rng, p.sev[:])
		file := sc.files[rng.IntN(len(sc.files))]
		vars := placeholders{user: u.email, file: file, endpoint: ep.name, login: u.login}
		dest := fill(sc.dests[rng.IntN(len(sc.dests))], &vars)
		vars.dest = dest

		inc := Incident{
			ID:           fmt.Sprintf("incident-%d", id),
			Title:        fill(sc.title, &vars),
			Description:  fill(sc.desc, &vars),
			Severity:     severities[sev],
			PolicyID:     p.id,
			PolicyName:   p.name,
			EndpointID:   ep.id,
			EndpointName: ep.name,
			UserID:       u.id,
			UserName:     u.email,
			CreatedAt:    created[i].Format(time.RFC3339),
		}
		inc.Tags = makeTags(rng, p, sc, sev)

		age := now.Sub(created[i])
		inc.Status = statuses[simdata.Pick(rng, statusWeights(age))]
		var lag time.Duration
		switch inc.Status {
		case "open":
			if rng.IntN(2) == 0 {
				lag = randDur(rng, 0, min(age, 72*time.Hour))
			}
			if rng.IntN(100) < 20 {
				inc.AssignedTo = analysts[rng.IntN(len(analysts))]
			}
		case "investigating":
			lag = randDur(rng, 10*time.Minute, min(age, 7*24*time.Hour))
			inc.AssignedTo = analysts[rng.IntN(len(analysts))]
		default:
			lag = randDur(rng, time.Hour, min(age, 21*24*time.Hour))
			if rng.IntN(100) < 85 {
				inc.AssignedTo = analysts[rng.IntN(len(analysts))]
			}
			if inc.Status == "closed" {
				inc.CloseReason = closeReasons[simdata.Pick(rng, closeWts)]
				if rng.IntN(100) < 70 {
					notes := closeNotes[inc.CloseReason]
					inc.CloseNote = notes[rng.IntN(len(notes))]
				}
			}
		}
		updated := created[i].Add(lag).Truncate(time.Second)
		inc.UpdatedAt = updated.Format(time.RFC3339)
		inc.Details = makeDetails(rng, sc, ep, u, file, dest, sev)
		inc.Details["lineage"] = lineage(&inc, created[i])

		recs[i] = &record{inc: inc, created: created[i].UnixNano(), updated: updated.UnixNano(), sevRank: sev}
	}
	plantInjections(recs)
	return recs
}

// statusWeights makes old incidents mostly resolved or closed and new ones mostly
// open, as a working SOC queue looks.
func statusWeights(age time.Duration) []int {
	switch {
	case age < 48*time.Hour:
		return []int{60, 30, 5, 5}
	case age < 14*24*time.Hour:
		return []int{30, 30, 15, 25}
	default:
		return []int{15, 12, 28, 45}
	}
}

func makeTags(rng *rand.Rand, p *policyDef, sc *scenario, sev int) []string {
	tags := []string{}
	add := func(t ...string) {
		for _, x := range t {
			if !slices.Contains(tags, x) {
				tags = append(tags, x)
			}
		}
	}
	if sev == 0 && rng.IntN(100) < 40 {
		return tags // informational noise often goes untagged
	}
	add(p.tags...)
	add(sc.tags...)
	switch {
	case sev == 4 && rng.IntN(100) < 70, sev == 3 && rng.IntN(100) < 15:
		add("urgent")
	}
	if sev >= 3 && rng.IntN(100) < 5 {
		add("data-breach")
	}
	for _, x := range []struct {
		tag string
		pct int
	}{{"insider-risk", 6}, {"repeat-offender", 4}, {"departing-employee", 3}} {
		if rng.IntN(100) < x.pct {
			add(x.tag)
		}
	}
	return tags
}

var apps = map[string]map[string][]string{
	"file_access": {"windows": {"EXCEL.EXE", "explorer.exe"}, "macos": {"Microsoft Excel", "Finder"}, "linux": {"libreoffice"}},
	"usb_copy":    {"windows": {"explorer.exe", "robocopy.exe"}, "macos": {"Finder"}, "linux": {"nautilus", "cp"}},
	"email_send":  {"windows": {"OUTLOOK.EXE", "chrome.exe"}, "macos": {"Mail", "Microsoft Outlook"}, "linux": {"thunderbird"}},
	"upload":      {"windows": {"chrome.exe", "msedge.exe", "firefox.exe"}, "macos": {"Google Chrome", "Safari"}, "linux": {"firefox", "curl"}},
	"cloud_sync":  {"windows": {"Dropbox.exe"}, "macos": {"Dropbox"}, "linux": {"dropbox"}},
	"paste":       {"windows": {"chrome.exe", "msedge.exe"}, "macos": {"Google Chrome", "Safari"}, "linux": {"firefox"}},
	"git_push":    {"windows": {"git.exe"}, "macos": {"git"}, "linux": {"git"}},
	"print":       {"windows": {"WINWORD.EXE", "AcroRd32.exe"}, "macos": {"Preview"}, "linux": {"evince"}},
}

// makeDetails builds the include_details object. Numbers are float64 and lists
// []any, the shapes encoding/json produces, so wire and Incidents() agree exactly.
func makeDetails(rng *rand.Rand, sc *scenario, ep *endpointDef, u *userDef, file, dest string, sev int) map[string]any {
	folder := sc.folder
	if folder == "" {
		folder = genericFolder[rng.IntN(len(genericFolder))]
	}
	var path string
	switch ep.os {
	case "windows":
		path = `C:\Users\` + u.login + `\` + strings.ReplaceAll(folder, "/", `\`) + `\` + file
	case "macos":
		path = "/Users/" + u.login + "/" + folder + "/" + file
	default:
		path = "/home/" + u.login + "/" + folder + "/" + file
	}
	lo := [5]int{5, 20, 40, 65, 85}[sev]
	hi := [5]int{25, 45, 70, 90, 100}[sev]
	ctypes := make([]any, len(sc.ctypes))
	for i, c := range sc.ctypes {
		ctypes[i] = c
	}
	appChoices := apps[sc.action][ep.os]
	// Log-uniform sizes from 4 KiB to 2 GiB: most files are small, a few are huge.
	size := math.Round(math.Exp(math.Log(4096) + rng.Float64()*(math.Log(2<<30)-math.Log(4096))))
	return map[string]any{
		"file_path":       path,
		"file_name":       file,
		"action":          sc.action,
		"risk_score":      float64(lo + rng.IntN(hi-lo+1)),
		"destination":     dest,
		"content_types":   ctypes,
		"file_size_bytes": size,
		"application":     appChoices[rng.IntN(len(appChoices))],
		"match_count":     float64(1 + rng.IntN(2000)),
		"os":              ep.os,
	}
}

// placeholders are the values a scenario's templates can name.
type placeholders struct{ user, file, dest, endpoint, login string }

func (p *placeholders) lookup(name string) (string, bool) {
	switch name {
	case "user":
		return p.user, true
	case "file":
		return p.file, true
	case "dest":
		return p.dest, true
	case "endpoint":
		return p.endpoint, true
	case "login":
		return p.login, true
	}
	return "", false
}

// fill expands {name} placeholders; a hand-rolled loop because building a
// strings.Replacer per incident dominated the time to generate 50k incidents.
func fill(tmpl string, vars *placeholders) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j += i
		b.WriteString(tmpl[:i])
		if v, ok := vars.lookup(tmpl[i+1 : j]); ok {
			b.WriteString(v)
		} else {
			b.WriteString(tmpl[i : j+1])
		}
		tmpl = tmpl[j+1:]
	}
}

func randDur(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return max(hi, 0)
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
