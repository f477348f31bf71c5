// Package registry is the one table of vendors: for each, how an instance is
// configured (file keys and environment variables) and how its driver is
// built. The command, the configuration loader and the demo all read it, so
// a fourth vendor is one more row here.
package registry

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/incident-mcp/incident-mcp/config"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/eset"
	"github.com/incident-mcp/incident-mcp/vendors/kaspersky"
)

// Vendors is the registry, in the order instances from the environment are
// listed.
var Vendors = config.Table{
	{Key: eset.Vendor, Decode: decodeESET, FromEnv: esetFromEnv, EnvHelp: esetEnvHelp},
	{Key: kaspersky.Vendor, Decode: decodeKaspersky, FromEnv: kasperskyFromEnv, EnvHelp: kasperskyEnvHelp},
	{Key: dlp.Vendor, Decode: decodeDLP, FromEnv: dlpFromEnv, EnvHelp: dlpEnvHelp},
}

// Load reads and validates a configuration file against the registry.
func Load(path string, getenv func(string) string) (*config.File, error) {
	return config.Load(path, Vendors, getenv)
}

// FromEnv builds the one-instance-per-vendor configuration of the
// environment; instances are named by their vendor key.
func FromEnv(getenv func(string) string) (*config.File, error) {
	env := config.Env{Get: getenv}
	f := &config.File{}
	for _, v := range Vendors {
		s, ok, err := v.FromEnv(env)
		if err != nil {
			return nil, err
		}
		if ok {
			ro, err := env.ReadOnly(v.Key)
			if err != nil {
				return nil, err
			}
			f.Instances = append(f.Instances, config.Instance{Name: v.Key, Vendor: v.Key, ReadOnly: ro, Settings: s})
		}
	}
	return f, nil
}

// EnvHelp documents every vendor's environment variables.
func EnvHelp() string {
	var b strings.Builder
	for _, v := range Vendors {
		b.WriteString(v.EnvHelp)
	}
	return b.String()
}

// BuildOption adjusts how Build makes drivers.
type BuildOption func(name string, o *config.DriverOptions)

// WithObserver lets o see every instance's HTTP layer (metrics).
func WithObserver(o config.VendorObserver) BuildOption {
	return func(_ string, d *config.DriverOptions) { d.Observer = o }
}

// WithSharedLimits makes every credential's vendor limits shared by the
// replicas through shared (Redis); without it each driver keeps local ones.
func WithSharedLimits(shared config.SharedLimits) BuildOption {
	return func(_ string, d *config.DriverOptions) { d.Shared = shared }
}

// WithHTTPClient gives each instance the HTTP client client returns for
// its name (instrumented for metrics and tracing).
func WithHTTPClient(client func(instance string) *http.Client) BuildOption {
	return func(name string, o *config.DriverOptions) { o.HTTPClient = client(name) }
}

// Build makes the service's instances from a configuration.
func Build(f *config.File, log *slog.Logger, opts ...BuildOption) ([]*incidents.Instance, error) {
	out := make([]*incidents.Instance, 0, len(f.Instances))
	for _, in := range f.Instances {
		do := config.DriverOptions{Logger: log.With("instance", in.Name), Instance: in.Name}
		for _, opt := range opts {
			opt(in.Name, &do)
		}
		d, err := in.Settings.Driver(do)
		if err != nil {
			if in.Line > 0 {
				return nil, fmt.Errorf("instance %s (line %d): %w", in.Name, in.Line, err)
			}
			return nil, fmt.Errorf("instance %s: %w", in.Name, err)
		}
		b := in.Budget
		if b.Requests == 0 {
			b.Requests = f.Budget.Requests
		}
		if b.Time == 0 {
			b.Time = f.Budget.Time
		}
		out = append(out, &incidents.Instance{
			Name: in.Name, Driver: d, ReadOnly: in.ReadOnly, RateLimit: in.Settings.RateLimit(),
			Budget: incidents.Budget{Requests: b.Requests, Time: b.Time},
		})
	}
	return out, nil
}

// rateLimitText renders n requests per window.
func rateLimitText(n int, per time.Duration, concurrent int) string {
	s := fmt.Sprintf("%d requests per %s", n, per)
	if concurrent > 0 {
		s += fmt.Sprintf(", at most %d at once", concurrent)
	}
	return s
}

// ESET Connect.

const esetEnvHelp = `  ESET_REGION                                    eu, de, us, ca or jpn
  ESET_API_URL, ESET_TOKEN_URL                   explicit endpoints instead of a region
  ESET_USERNAME, ESET_USERNAME_FILE              ESET Connect API user
  ESET_PASSWORD, ESET_PASSWORD_FILE              its password
  ESET_READ_ONLY                                 true/false/1/0/yes/no: refuse writes to this instance
  ESET_RATE_LIMIT                                requests per second, when the contract allows more than ESET's 10
`

type esetSettings struct {
	cfg      eset.Config
	endpoint string
	password string // where it came from
}

func decodeESET(d *config.Decoder) (config.Settings, error) {
	s := &esetSettings{}
	d.String("region", &s.cfg.Region)
	d.URL("api_url", &s.cfg.APIURL)
	d.URL("token_url", &s.cfg.TokenURL)
	d.String("username", &s.cfg.Username)
	pw := d.Secret("password")
	var rl config.RateLimit
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
		return nil, d.Errorf("region", "%q is not an ESET region; use one of %s (or api_url and token_url)", s.cfg.Region, strings.Join(eset.Regions, ", "))
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

func validRegion(r string) bool {
	for _, x := range eset.Regions {
		if r == x {
			return true
		}
	}
	return false
}

func (s *esetSettings) Driver(o config.DriverOptions) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Logger, cfg.Instance = o.Logger, o.Instance
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	}
	if o.Observer != nil {
		cfg.Observer = o.Observer
	}
	if o.Shared != nil {
		// Whole requests per window: 2.5/s is 5 per 2s.
		r := s.rate()
		n := max(int(r), 1)
		cfg.Limiter = o.Shared.Limiter(eset.Vendor+"/"+o.Instance, n, time.Duration(float64(time.Second)*float64(n)/r))
	}
	return eset.New(cfg)
}

// rate is the effective limit in requests per second.
func (s *esetSettings) rate() float64 {
	if s.cfg.RateLimit == 0 {
		return 10 // ESET's documented limit
	}
	return s.cfg.RateLimit
}

func (s *esetSettings) Summary() []string {
	return []string{s.endpoint, "username " + s.cfg.Username, "password from " + s.password, "rate limit " + s.RateLimit()}
}

func (s *esetSettings) RateLimit() string {
	return fmt.Sprintf("%g requests per second", s.rate())
}

func esetFromEnv(env config.Env) (config.Settings, bool, error) {
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
	s := &esetSettings{cfg: eset.Config{
		Region: env.Get("ESET_REGION"), APIURL: env.Get("ESET_API_URL"), TokenURL: env.Get("ESET_TOKEN_URL"),
		Username: user, Password: pass, RateLimit: float64(rps),
	}, endpoint: "region " + env.Get("ESET_REGION"), password: "ESET_PASSWORD"}
	if s.cfg.APIURL != "" {
		s.endpoint = s.cfg.APIURL
	}
	return s, true, nil
}

// Kaspersky Next XDR Expert.

const kasperskyEnvHelp = `  KASPERSKY_URL                                  console API base, e.g. https://api.xdr.example.com
  KASPERSKY_TOKEN, KASPERSKY_TOKEN_FILE          API token made in the console
  KASPERSKY_TENANTS                              comma-separated tenant IDs (default: every readable tenant)
  KASPERSKY_CA_FILE                              PEM CA bundle for an on-premises certificate
  KASPERSKY_INSECURE                             true/false/1/0/yes/no: skip certificate checks (logged loudly)
  KASPERSKY_READ_ONLY                            true/false/1/0/yes/no: refuse writes to this instance
`

type kasperskySettings struct {
	cfg   kaspersky.Config
	token string // where it came from
}

func decodeKaspersky(d *config.Decoder) (config.Settings, error) {
	s := &kasperskySettings{}
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

func (s *kasperskySettings) Driver(o config.DriverOptions) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Logger, cfg.Instance = o.Logger, o.Instance
	if o.HTTPClient != nil && cfg.CAFile == "" && !cfg.Insecure {
		cfg.HTTPClient = o.HTTPClient
	}
	if o.Observer != nil {
		cfg.Observer = o.Observer
	}
	return kaspersky.New(cfg)
}

func (s *kasperskySettings) Summary() []string {
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

func (s *kasperskySettings) RateLimit() string {
	return "none documented; requests are not paced"
}

func kasperskyFromEnv(env config.Env) (config.Settings, bool, error) {
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
	return &kasperskySettings{cfg: kaspersky.Config{
		BaseURL: env.Get("KASPERSKY_URL"), Token: tok, Tenants: env.List("KASPERSKY_TENANTS"),
		CAFile: env.Get("KASPERSKY_CA_FILE"), Insecure: insecure,
	}, token: "KASPERSKY_TOKEN"}, true, nil
}

// Cyberhaven DLP.

const dlpEnvHelp = `  DLP_URL                                        Cyberhaven tenant, e.g. https://acme.cyberhaven.io
  DLP_PATH_PREFIX                                /v2 (default) or /public/v2
  DLP_API_KEY, DLP_API_KEY_FILE                  API key
  DLP_READ_ONLY                                  true/false/1/0/yes/no: refuse writes to this instance
  DLP_RATE_LIMIT, DLP_MAX_CONCURRENT             requests per minute and in flight, when above Cyberhaven's 60 and 5
`

type dlpSettings struct {
	cfg dlp.Config
	key string // where it came from
}

func decodeDLP(d *config.Decoder) (config.Settings, error) {
	s := &dlpSettings{}
	d.URL("url", &s.cfg.BaseURL)
	d.String("path_prefix", &s.cfg.PathPrefix)
	key := d.Secret("api_key")
	var rl config.RateLimit
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

func (s *dlpSettings) Driver(o config.DriverOptions) (driver.Driver, error) {
	cfg := s.cfg
	cfg.Logger, cfg.Instance = o.Logger, o.Instance
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	}
	if o.Observer != nil {
		cfg.Observer = o.Observer
	}
	if o.Shared != nil {
		n, per, c := s.limits()
		cfg.Limiter = o.Shared.Limiter(dlp.Vendor+"/"+o.Instance, n, per)
		cfg.Semaphore = o.Shared.Semaphore(dlp.Vendor+"/"+o.Instance, c)
	}
	return dlp.New(cfg)
}

// limits are the effective requests per window and requests in flight.
func (s *dlpSettings) limits() (int, time.Duration, int) {
	n, per, c := s.cfg.RateLimit, s.cfg.RateWindow, s.cfg.MaxConcurrent
	if n == 0 {
		n = dlp.DefaultRateLimit
	}
	if per == 0 {
		per = dlp.DefaultRateWindow
	}
	if c == 0 {
		c = dlp.DefaultMaxConcurrent
	}
	return n, per, c
}

func (s *dlpSettings) Summary() []string {
	return []string{s.cfg.BaseURL, "API key from " + s.key, "rate limit " + s.RateLimit()}
}

func (s *dlpSettings) RateLimit() string {
	return rateLimitText(s.limits())
}

func dlpFromEnv(env config.Env) (config.Settings, bool, error) {
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
	return &dlpSettings{cfg: dlp.Config{BaseURL: env.Get("DLP_URL"), PathPrefix: env.Get("DLP_PATH_PREFIX"), APIKey: key,
		RateLimit: limit, MaxConcurrent: conc}, key: "DLP_API_KEY"}, true, nil
}
