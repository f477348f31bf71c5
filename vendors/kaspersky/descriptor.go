package kaspersky

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky/kasperskysim"
)

// Descriptor is Kaspersky Next XDR Expert as the rest of the server knows
// it.
var Descriptor = descriptor.Vendor{
	Name:     "Kaspersky Next XDR Expert",
	Settings: settings.Vendor{Key: Vendor, Decode: decodeSettings, FromEnv: settingsFromEnv, EnvHelp: envHelp},
	Simulation: descriptor.Simulation{
		Port:     8702,
		New:      newSimulator,
		Instance: simInstance,
		Env:      simEnv,
		Route:    func(*http.Request) (string, bool) { return "api", true },
	},
}

const envHelp = `  KASPERSKY_URL                                  console API base, e.g. https://api.xdr.example.com
  KASPERSKY_TOKEN, KASPERSKY_TOKEN_FILE          API token made in the console
  KASPERSKY_TENANTS                              comma-separated tenant IDs (default: every readable tenant)
  KASPERSKY_CA_FILE                              PEM CA bundle for an on-premises certificate
  KASPERSKY_INSECURE                             true/false/1/0/yes/no: skip certificate checks (logged loudly)
  KASPERSKY_READ_ONLY                            true/false/1/0/yes/no: refuse writes to this instance
`

// instanceSettings are one Kaspersky instance's validated settings.
type instanceSettings struct {
	cfg   Config
	token string // where it came from
}

func decodeSettings(d *settings.Decoder) (settings.Settings, error) {
	s := &instanceSettings{}
	d.URL("url", &s.cfg.BaseURL)
	tok := d.Secret("token")
	d.Strings("tenants", &s.cfg.Tenants)
	d.Path("ca_file", &s.cfg.CAFile)
	d.Bool("insecure", &s.cfg.Insecure)
	if err := d.Finish(); err != nil {
		return nil, err
	}
	s.cfg.Token, s.token = tok.Value, tok.Source
	if s.cfg.BaseURL == "" {
		return nil, d.Errorf("url", "missing: the console's API base, e.g. https://api.xdr.example.com")
	}
	if s.cfg.CAFile != "" && s.cfg.Insecure {
		return nil, d.Errorf("insecure", "set ca_file or insecure, not both")
	}
	return s, nil
}

func (s *instanceSettings) Driver(o descriptor.Options) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Common = o.Common
	if cfg.CAFile != "" || cfg.Insecure {
		cfg.HTTPClient = nil // the driver's own TLS client
	}
	return New(cfg)
}

func (s *instanceSettings) Summary() []string {
	out := []string{s.cfg.BaseURL, "token from " + s.token}
	if len(s.cfg.Tenants) > 0 {
		out = append(out, "tenants "+strings.Join(s.cfg.Tenants, ", "))
	} else {
		out = append(out, "tenants: every tenant the token can read")
	}
	if s.cfg.CAFile != "" {
		out = append(out, "CA file "+s.cfg.CAFile)
	}
	if s.cfg.Insecure {
		out = append(out, "TLS CERTIFICATE CHECKS OFF")
	}
	return out
}

func (s *instanceSettings) RateLimit() string {
	return "none documented; requests are not paced"
}

func settingsFromEnv(env settings.Env) (settings.Settings, bool, error) {
	tok, err := env.Secret("KASPERSKY_TOKEN")
	if err != nil {
		return nil, false, err
	}
	if tok == "" && env.Get("KASPERSKY_URL") == "" {
		return nil, false, nil
	}
	insecure, err := env.Bool("KASPERSKY_INSECURE")
	if err != nil {
		return nil, false, err
	}
	return &instanceSettings{cfg: Config{
		BaseURL: env.Get("KASPERSKY_URL"), Token: tok, Tenants: env.List("KASPERSKY_TENANTS"),
		CAFile: env.Get("KASPERSKY_CA_FILE"), Insecure: insecure,
	}, token: "KASPERSKY_TOKEN"}, true, nil
}

// Simulator is the Kaspersky simulator as the demo and incident-sim run
// it; Server is the simulator itself, for tests that read its records.
type Simulator struct{ *kasperskysim.Server }

// newSimulator makes the simulator; Kaspersky documents no rate limit, so
// there is none to lift.
func newSimulator(o descriptor.SimOptions) descriptor.Simulator {
	return Simulator{kasperskysim.New(kasperskysim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now})}
}

// Stats are the simulator's counters.
func (s Simulator) Stats() any { return s.Server.Stats() }

func simInstance(url string, _ bool) string {
	return "url: " + url + "\ntoken: " + strconv.Quote(kasperskysim.DefaultToken) + "\n"
}

func simEnv(url string, _ bool) []string {
	return []string{"KASPERSKY_URL=" + url, "KASPERSKY_TOKEN=" + kasperskysim.DefaultToken}
}

var factStatus = map[string]string{kasperskysim.StatusOpen: "open", kasperskysim.StatusInProgress: "in_progress",
	kasperskysim.StatusHold: "on_hold", kasperskysim.StatusClosed: "closed"}

// Facts maps the records the simulator's default token reads (every
// tenant but the restricted one) with Kaspersky's documented meanings.
func (s Simulator) Facts() []descriptor.Fact {
	readable := map[string]bool{}
	for _, t := range s.Tenants() {
		readable[t.ID] = t.Name != kasperskysim.TenantRestricted
	}
	var out []descriptor.Fact
	for _, in := range s.Incidents() {
		if !readable[in.TenantID] {
			continue
		}
		f := descriptor.Fact{
			ID: Vendor + ":" + in.InternalID, Instance: Vendor, Severity: in.Severity, Status: factStatus[in.Status],
			Resolution: in.StatusResolution, Created: in.CreatedAt, Updated: in.UpdatedAt, Title: in.Name, Desc: in.Description,
			Tenant: in.TenantID,
		}
		if in.Assignee != nil {
			f.Assignee = in.Assignee.ID
		}
		for _, a := range in.Assets {
			switch a.Type {
			case "host":
				f.DeviceIDs = append(f.DeviceIDs, a.ID)
				f.DeviceNames = append(f.DeviceNames, a.Name)
			case "user":
				f.UserIDs = append(f.UserIDs, a.ID)
				f.People = append(f.People, a.Name)
				if a.UserInfo != nil {
					f.People = append(f.People, a.UserInfo.SamAccountName, a.UserInfo.Mail)
				}
			}
		}
		for _, m := range in.MITRETechniques {
			f.Techniques = append(f.Techniques, m.ID)
		}
		out = append(out, f)
	}
	return out
}
