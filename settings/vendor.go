package settings

import (
	"fmt"
	"time"
)

// Settings are one instance's vendor-specific settings after validation.
// What else they can do (build a driver) is the vendor's business; the
// loader only stores them and shows them.
type Settings interface {
	// Summary describes the settings for people: endpoint, where each
	// credential comes from, tenants, rate limit. Never a secret.
	Summary() []string
	// RateLimit is the effective rate limit in words.
	RateLimit() string
}

// Vendor is how instances of one vendor are configured: the settings part
// of the vendor's descriptor, one row of the table the loader reads a file
// against.
type Vendor struct {
	// Key is the vendor key in files ("eset") and in driver.Info.
	Key string
	// Decode validates an instance's vendor-specific keys. Common keys
	// (name, vendor, read_only, budget) are already consumed.
	Decode func(d *Decoder) (Settings, error)
	// FromEnv reads the one-instance configuration of this vendor from the
	// environment; ok is false when none of its variables is set.
	// <KEY>_READ_ONLY is read for every vendor alike (Env.ReadOnly).
	FromEnv func(env Env) (s Settings, ok bool, err error)
	// EnvHelp documents the variables FromEnv reads, one per line.
	EnvHelp string
}

// RateLimit paces one instance's requests: Requests per Per, at most
// Concurrent at once. Zero fields keep the vendor's documented limits.
type RateLimit struct {
	Requests   int           `yaml:"requests"`
	Per        time.Duration `yaml:"per"`
	Concurrent int           `yaml:"concurrent"`
}

// RateLimitText renders n requests per window, at most concurrent at once
// (when above 0).
func RateLimitText(n int, per time.Duration, concurrent int) string {
	s := fmt.Sprintf("%d requests per %s", n, per)
	if concurrent > 0 {
		s += fmt.Sprintf(", at most %d at once", concurrent)
	}
	return s
}
