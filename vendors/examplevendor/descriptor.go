//go:build examplevendor

package examplevendor

import (
	"net/http"
	"strconv"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Descriptor is the example vendor as the rest of the server knows it.
var Descriptor = descriptor.Vendor{
	Name:     "Example Vendor",
	Settings: settings.Vendor{Key: Vendor, Decode: decodeSettings, FromEnv: settingsFromEnv, EnvHelp: envHelp},
	Simulation: descriptor.Simulation{
		Port: 8704,
		New:  func(o descriptor.SimOptions) descriptor.Simulator { return NewSimulator(o) },
		Instance: func(url string, _ bool) string {
			return "url: " + url + "\napi_key: " + strconv.Quote(DefaultAPIKey) + "\n"
		},
		Env: func(url string, _ bool) []string {
			return []string{"EXAMPLE_URL=" + url, "EXAMPLE_API_KEY=" + DefaultAPIKey}
		},
		Route: func(*http.Request) (string, bool) { return "api", true },
	},
}

const envHelp = `  EXAMPLE_URL                                    the example vendor's API base (test builds only)
  EXAMPLE_API_KEY, EXAMPLE_API_KEY_FILE          its API key
  EXAMPLE_READ_ONLY                              true/false/1/0/yes/no: refuse writes to this instance
`

// instanceSettings are one instance's validated settings.
type instanceSettings struct {
	cfg Config
	key string // where it came from
}

func decodeSettings(d *settings.Decoder) (settings.Settings, error) {
	s := &instanceSettings{}
	d.URL("url", &s.cfg.BaseURL)
	key := d.Secret("api_key")
	if err := d.Finish(); err != nil {
		return nil, err
	}
	s.cfg.APIKey, s.key = key.Value, key.Source
	if s.cfg.BaseURL == "" {
		return nil, d.Errorf("url", "missing: the example vendor's API base")
	}
	return s, nil
}

func settingsFromEnv(env settings.Env) (settings.Settings, bool, error) {
	key, err := env.Secret("EXAMPLE_API_KEY")
	if err != nil {
		return nil, false, err
	}
	if key == "" && env.Get("EXAMPLE_URL") == "" {
		return nil, false, nil
	}
	return &instanceSettings{cfg: Config{BaseURL: env.Get("EXAMPLE_URL"), APIKey: key}, key: "EXAMPLE_API_KEY"}, true, nil
}

// Driver builds the driver; the example vendor has no HTTP layer to
// observe and no limits to share.
func (s *instanceSettings) Driver(o descriptor.Options) (driver.Driver, error) {
	cfg := s.cfg
	cfg.HTTPClient = o.HTTPClient
	return New(cfg)
}

func (s *instanceSettings) Summary() []string {
	return []string{s.cfg.BaseURL, "API key from " + s.key}
}

func (s *instanceSettings) RateLimit() string { return "none" }
