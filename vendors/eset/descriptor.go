package eset

import (
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/eset/esetsim"
)

// Descriptor is ESET Connect as the rest of the server knows it.
var Descriptor = descriptor.Vendor{
	Name:     "ESET Connect",
	Settings: settings.Vendor{Key: Vendor, Decode: decodeSettings, FromEnv: settingsFromEnv, EnvHelp: envHelp},
	Simulation: descriptor.Simulation{
		Port:     8701,
		New:      func(o descriptor.SimOptions) descriptor.Simulator { return newSimulator(o, 0) },
		Flags:    simFlags,
		Instance: simInstance,
		Env:      simEnv,
		Route:    simRoute,
	},
}

const envHelp = `  ESET_REGION                                    eu, de, us, ca or jpn
  ESET_API_URL, ESET_TOKEN_URL                   explicit endpoints instead of a region
  ESET_USERNAME, ESET_USERNAME_FILE              ESET Connect API user
  ESET_PASSWORD, ESET_PASSWORD_FILE              its password
  ESET_READ_ONLY                                 true/false/1/0/yes/no: refuse writes to this instance
  ESET_RATE_LIMIT                                requests per second, when the contract allows more than ESET's 10
`

// instanceSettings are one ESET instance's validated settings.
type instanceSettings struct {
	cfg      Config
	endpoint string
	password string // where it came from
}

func decodeSettings(d *settings.Decoder) (settings.Settings, error) {
	s := &instanceSettings{}
	d.String("region", &s.cfg.Region)
	d.URL("api_url", &s.cfg.APIURL)
	d.URL("token_url", &s.cfg.TokenURL)
	d.String("username", &s.cfg.Username)
	pw := d.Secret("password")
	var rl settings.RateLimit
	d.Struct("rate_limit", &rl)
	if err := d.Finish(); err != nil {
		return nil, err
	}
	s.cfg.Password, s.password = pw.Value, pw.Source
	if s.cfg.Username == "" {
		return nil, d.Errorf("username", "missing: the ESET Connect API user")
	}
	switch {
	case s.cfg.APIURL != "" && s.cfg.TokenURL != "":
		s.endpoint = s.cfg.APIURL
	case s.cfg.APIURL != "" || s.cfg.TokenURL != "":
		return nil, d.Errorf("api_url", "set both api_url and token_url, or a region instead")
	case !validRegion(s.cfg.Region):
		return nil, d.Errorf("region", "%q is not an ESET region; use one of %s (or api_url and token_url)", s.cfg.Region, strings.Join(Regions, ", "))
	default:
		s.endpoint = "region " + s.cfg.Region
	}
	if rl.Concurrent != 0 {
		return nil, d.Errorf("rate_limit", "ESET limits requests per second only; concurrent is not a setting here")
	}
	if rl.Requests > 0 {
		per := rl.Per
		if per == 0 {
			per = time.Second
		}
		s.cfg.RateLimit = float64(rl.Requests) / per.Seconds()
	}
	return s, nil
}

func (s *instanceSettings) Driver(o descriptor.Options) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Common = o.Common
	if o.Shared != nil {
		// Whole requests per window: 2.5/s is 5 per 2s.
		r := s.rate()
		n := max(int(r), 1)
		cfg.Limiter = o.Shared.Limiter(Vendor+"/"+o.Instance, n, time.Duration(float64(time.Second)*float64(n)/r))
	}
	return New(cfg)
}

// rate is the effective limit in requests per second.
func (s *instanceSettings) rate() float64 {
	if s.cfg.RateLimit == 0 {
		return 10 // ESET's documented limit
	}
	return s.cfg.RateLimit
}

func (s *instanceSettings) Summary() []string {
	return []string{s.endpoint, "username " + s.cfg.Username, "password from " + s.password, "rate limit " + s.RateLimit()}
}

func (s *instanceSettings) RateLimit() string {
	return fmt.Sprintf("%g requests per second", s.rate())
}

func settingsFromEnv(env settings.Env) (settings.Settings, bool, error) {
	user, err := env.Secret("ESET_USERNAME")
	if err != nil {
		return nil, false, err
	}
	pass, err := env.Secret("ESET_PASSWORD")
	if err != nil {
		return nil, false, err
	}
	if user == "" && pass == "" && env.Get("ESET_REGION") == "" {
		return nil, false, nil
	}
	rps, err := env.Count("ESET_RATE_LIMIT")
	if err != nil {
		return nil, false, err
	}
	s := &instanceSettings{cfg: Config{
		Region: env.Get("ESET_REGION"), APIURL: env.Get("ESET_API_URL"), TokenURL: env.Get("ESET_TOKEN_URL"),
		Username: user, Password: pass, RateLimit: float64(rps),
	}, endpoint: "region " + env.Get("ESET_REGION"), password: "ESET_PASSWORD"}
	if s.cfg.APIURL != "" {
		s.endpoint = s.cfg.APIURL
	}
	return s, true, nil
}

// Simulator is the ESET Connect simulator as the demo and incident-sim
// run it; Server is the simulator itself, for tests that read its records.
type Simulator struct{ *esetsim.Server }

// newSimulator makes the simulator; rate is its requests per second (0:
// ESET's 10).
func newSimulator(o descriptor.SimOptions, rate int) Simulator {
	cfg := esetsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now, RateLimit: rate}
	if o.Unlimited {
		cfg.RateLimit = -1
	}
	return Simulator{esetsim.New(cfg)}
}

func simFlags(fs *flag.FlagSet) func(descriptor.SimOptions) descriptor.Simulator {
	rate := fs.Int("eset-rate", 10, "ESET requests per second per API user (the vendor's 10)")
	return func(o descriptor.SimOptions) descriptor.Simulator { return newSimulator(o, *rate) }
}

// Stats are the simulator's counters.
func (s Simulator) Stats() any { return s.Server.Stats() }

func simInstance(url string, unlimited bool) string {
	s := fmt.Sprintf("api_url: %[1]s\ntoken_url: %[1]s/oauth/token\nusername: demo\npassword: demo\n", url)
	if unlimited {
		s += "rate_limit: {requests: 10000, per: 1s}\n"
	}
	return s
}

func simEnv(url string, unlimited bool) []string {
	env := []string{"ESET_API_URL=" + url, "ESET_TOKEN_URL=" + url + "/oauth/token", "ESET_USERNAME=demo", "ESET_PASSWORD=demo"}
	if unlimited {
		env = append(env, "ESET_RATE_LIMIT=1000000")
	}
	return env
}

// simRoute: ESET's limit counts API requests; sign-in is a separate
// service.
func simRoute(r *http.Request) (string, bool) {
	if r.URL.Path == "/oauth/token" {
		return "token", false
	}
	return "api", true
}

var (
	factSeverity = map[string]string{esetsim.SeverityLow: "low", esetsim.SeverityMedium: "medium", esetsim.SeverityHigh: "high"}
	factStatus   = map[string]string{esetsim.StatusOpen: "open", esetsim.StatusInProgress: "in_progress",
		esetsim.StatusWaitingForInput: "on_hold", esetsim.StatusClosed: "closed"}
)

// Facts maps the simulator's records with ESET's documented meanings
// (DESIGN.md, section 3); user names come from each incident's detections.
func (s Simulator) Facts() []descriptor.Fact {
	var out []descriptor.Fact
	for _, in := range s.Incidents() {
		f := descriptor.Fact{
			ID: Vendor + ":" + in.UUID, Instance: Vendor, Severity: factSeverity[in.Severity], Status: factStatus[in.Status],
			Resolution: strings.ToLower(strings.TrimPrefix(in.ResolveReason, "INCIDENT_RESOLVE_REASON_")),
			Created:    in.CreateTime, Updated: in.UpdateTime, Title: in.DisplayName, Desc: in.Description,
			Tags: in.Tags, DeviceIDs: in.DeviceUUIDs, Assignee: in.AssigneeUUID,
		}
		for _, id := range in.DetectionUUIDs {
			if det, ok := s.Detection(id); ok {
				f.DeviceNames = appendNew(f.DeviceNames, det.Device.DisplayName)
				f.People = appendNew(f.People, det.UserName)
			}
		}
		out = append(out, f)
	}
	return out
}

func appendNew(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
