package dlp

import (
	"flag"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Descriptor is Cyberhaven DLP as the rest of the server knows it.
var Descriptor = descriptor.Vendor{
	Name:     "Cyberhaven DLP",
	Settings: settings.Vendor{Key: Vendor, Decode: decodeSettings, FromEnv: settingsFromEnv, EnvHelp: envHelp},
	Simulation: descriptor.Simulation{
		Port:     8703,
		New:      func(o descriptor.SimOptions) descriptor.Simulator { return newSimulator(o, simTuning{}) },
		Flags:    simFlags,
		Instance: simInstance,
		Env:      simEnv,
		Route:    simRoute,
	},
}

const envHelp = `  DLP_URL                                        Cyberhaven tenant, e.g. https://acme.cyberhaven.io
  DLP_PATH_PREFIX                                /v2 (default) or /public/v2
  DLP_API_KEY, DLP_API_KEY_FILE                  API key
  DLP_READ_ONLY                                  true/false/1/0/yes/no: refuse writes to this instance
  DLP_RATE_LIMIT, DLP_MAX_CONCURRENT             requests per minute and in flight, when above Cyberhaven's 60 and 5
`

// instanceSettings are one Cyberhaven instance's validated settings.
type instanceSettings struct {
	cfg Config
	key string // where it came from
}

func decodeSettings(d *settings.Decoder) (settings.Settings, error) {
	s := &instanceSettings{}
	d.URL("url", &s.cfg.BaseURL)
	d.String("path_prefix", &s.cfg.PathPrefix)
	key := d.Secret("api_key")
	var rl settings.RateLimit
	d.Struct("rate_limit", &rl)
	if err := d.Finish(); err != nil {
		return nil, err
	}
	s.cfg.APIKey, s.key = key.Value, key.Source
	if s.cfg.BaseURL == "" {
		return nil, d.Errorf("url", "missing: the Cyberhaven tenant, e.g. https://acme.cyberhaven.io")
	}
	if p := strings.Trim(s.cfg.PathPrefix, "/"); p != "" && p != "v2" && p != "public/v2" {
		return nil, d.Errorf("path_prefix", "%q: use /v2 or /public/v2", s.cfg.PathPrefix)
	}
	s.cfg.RateLimit, s.cfg.RateWindow, s.cfg.MaxConcurrent = rl.Requests, rl.Per, rl.Concurrent
	return s, nil
}

func (s *instanceSettings) Driver(o descriptor.Options) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Common = o.Common
	if o.Shared != nil {
		n, per, c := s.limits()
		cfg.Limiter = o.Shared.Limiter(Vendor+"/"+o.Instance, n, per)
		cfg.Semaphore = o.Shared.Semaphore(Vendor+"/"+o.Instance, c)
	}
	return New(cfg)
}

// limits are the effective requests per window and requests in flight.
func (s *instanceSettings) limits() (int, time.Duration, int) {
	n, per, c := s.cfg.RateLimit, s.cfg.RateWindow, s.cfg.MaxConcurrent
	if n == 0 {
		n = DefaultRateLimit
	}
	if per == 0 {
		per = DefaultRateWindow
	}
	if c == 0 {
		c = DefaultMaxConcurrent
	}
	return n, per, c
}

func (s *instanceSettings) Summary() []string {
	return []string{s.cfg.BaseURL, "API key from " + s.key, "rate limit " + s.RateLimit()}
}

func (s *instanceSettings) RateLimit() string {
	return settings.RateLimitText(s.limits())
}

func settingsFromEnv(env settings.Env) (settings.Settings, bool, error) {
	key, err := env.Secret("DLP_API_KEY")
	if err != nil {
		return nil, false, err
	}
	if key == "" && env.Get("DLP_URL") == "" {
		return nil, false, nil
	}
	limit, err := env.Count("DLP_RATE_LIMIT")
	if err != nil {
		return nil, false, err
	}
	conc, err := env.Count("DLP_MAX_CONCURRENT")
	if err != nil {
		return nil, false, err
	}
	return &instanceSettings{cfg: Config{BaseURL: env.Get("DLP_URL"), PathPrefix: env.Get("DLP_PATH_PREFIX"), APIKey: key,
		RateLimit: limit, MaxConcurrent: conc}, key: "DLP_API_KEY"}, true, nil
}

// Simulator is the Cyberhaven simulator as the demo and incident-sim run
// it; Server is the simulator itself, for tests that read its records.
type Simulator struct{ *dlpsim.Server }

// simTuning is what incident-sim's DLP flags set; zero fields keep the
// vendor's documented limits.
type simTuning struct {
	rate, concurrency int
	window, latency   time.Duration
}

func newSimulator(o descriptor.SimOptions, t simTuning) Simulator {
	cfg := dlpsim.Config{Seed: o.Seed, Incidents: o.Incidents, Now: o.Now, RateLimit: t.rate, RateWindow: t.window, MaxConcurrent: t.concurrency, Latency: t.latency}
	if o.Unlimited {
		cfg.RateLimit, cfg.MaxConcurrent = 1<<30, 1<<20
	}
	return Simulator{dlpsim.New(cfg)}
}

func simFlags(fs *flag.FlagSet) func(descriptor.SimOptions) descriptor.Simulator {
	t := &simTuning{}
	fs.IntVar(&t.rate, "dlp-rate", dlpsim.DefaultRateLimit, "DLP requests per window per API key (the vendor's 60)")
	fs.DurationVar(&t.window, "dlp-window", dlpsim.DefaultRateWindow, "DLP rate window (the vendor's minute)")
	fs.IntVar(&t.concurrency, "dlp-concurrency", dlpsim.DefaultMaxConcurrent, "DLP requests in flight per endpoint (the vendor's 5)")
	fs.DurationVar(&t.latency, "dlp-latency", 0, "delay every DLP request while it holds its concurrency slot")
	return func(o descriptor.SimOptions) descriptor.Simulator { return newSimulator(o, *t) }
}

// Stats are the simulator's counters.
func (s Simulator) Stats() any { return s.Server.Stats() }

func simInstance(url string, unlimited bool) string {
	s := "url: " + url + "\napi_key: " + strconv.Quote(dlpsim.DefaultAPIKey) + "\n"
	if unlimited {
		s += "rate_limit: {requests: 1000000, per: 1m, concurrent: 1000}\n"
	}
	return s
}

func simEnv(url string, unlimited bool) []string {
	env := []string{"DLP_URL=" + url, "DLP_API_KEY=" + dlpsim.DefaultAPIKey}
	if unlimited {
		env = append(env, "DLP_RATE_LIMIT=1000000000", "DLP_MAX_CONCURRENT=1000000")
	}
	return env
}

// simRoute: Cyberhaven counts token exchanges in the key's window too, and
// bounds requests in flight per endpoint.
func simRoute(r *http.Request) (string, bool) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/auth/token/access"):
		return "token", true
	case strings.HasSuffix(r.URL.Path, "/incidents/list"):
		return "list", true
	}
	return "update", true
}

var factStatus = map[string]string{"open": "open", "investigating": "in_progress", "resolved": "resolved", "closed": "closed"}

// Facts maps the simulator's records with Cyberhaven's documented
// meanings.
func (s Simulator) Facts() []descriptor.Fact {
	var out []descriptor.Fact
	for _, in := range s.Incidents() {
		created, _ := time.Parse(time.RFC3339, in.CreatedAt)
		updated, _ := time.Parse(time.RFC3339, in.UpdatedAt)
		out = append(out, descriptor.Fact{
			ID: Vendor + ":" + in.ID, Instance: Vendor, Severity: in.Severity, Status: factStatus[in.Status], Resolution: in.CloseReason,
			Created: created, Updated: updated, Title: in.Title, Desc: in.Description, Tags: in.Tags,
			DeviceIDs: []string{in.EndpointID}, DeviceNames: []string{in.EndpointName}, UserIDs: []string{in.UserID},
			Assignee: in.AssignedTo, Policy: in.PolicyID, People: []string{in.UserName},
		})
	}
	return out
}
