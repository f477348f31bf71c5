// Package descriptor is what a vendor package tells the rest of the server
// about itself, in one value each vendor exports: how an instance is
// configured (file keys, environment variables, their help), how its driver
// is built, how its simulator runs for the demo, incident-sim and the evals,
// and what its simulator's dataset holds. vendors/registry lists the
// descriptors; nothing outside a vendor's package names the vendor.
package descriptor

import (
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/incident-mcp/incident-mcp/settings"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
	"github.com/incident-mcp/incident-mcp/vendors/internal/httpx"
)

// Vendor describes one vendor.
type Vendor struct {
	// Name is the product's name for people ("ESET Connect").
	Name string
	// Settings reads an instance's settings from a file or the
	// environment. Every value its Decode and FromEnv return implements
	// Settings of this package: it builds the instance's driver.
	Settings settings.Vendor
	// Simulation runs the vendor's simulator.
	Simulation Simulation
}

// Key is the vendor key ("eset"), as configuration files and driver.Info
// spell it.
func (v *Vendor) Key() string { return v.Settings.Key }

// Settings are an instance's validated settings as its vendor's Decode or
// FromEnv made them.
type Settings interface {
	settings.Settings
	// Driver builds the instance's driver. It does no network I/O.
	Driver(o Options) (driver.Driver, error)
}

// NewDriver builds the driver of an instance's settings.
func NewDriver(s settings.Settings, o Options) (driver.Driver, error) {
	ds, ok := s.(Settings)
	if !ok {
		return nil, fmt.Errorf("settings of type %T build no driver; a vendor's Decode and FromEnv must return its descriptor.Settings", s)
	}
	return ds.Driver(o)
}

// Options are what the command passes to every driver it builds: the
// settings every driver takes alike (the instance's name, its metrics'
// client and observer, its logger; the clock stays the real one) and the
// limits the replicas share. A driver that builds its own TLS client (a CA
// file, verification off) keeps it rather than take HTTPClient.
type Options struct {
	Common
	// Shared, when set, makes each credential's vendor limits shared by the
	// replicas of the server (through Redis) instead of per process.
	Shared SharedLimits
}

// Common are the settings every driver's Config embeds: the drivers'
// shared HTTP layer declares them, and this name lets the command and
// tests reach them.
type Common = httpx.Common

// Observer sees a vendor instance's HTTP layer (metrics): the drivers'
// shared HTTP layer declares it, and this name lets the command reach it.
type Observer = httpx.Observer

// SharedLimits makes the rate limit and the bound on requests in flight of
// one vendor credential shared by every replica. name identifies the
// credential; every replica must ask with the same name and numbers.
type SharedLimits interface {
	// Limiter allows at most limit requests in any window of per.
	Limiter(name string, limit int, per time.Duration) driver.Limiter
	// Semaphore allows at most slots requests in flight.
	Semaphore(name string, slots int) driver.Semaphore
}

// Simulation is how the vendor's simulator runs: in the --demo mode, in
// incident-sim and bench-load, and under the evals.
type Simulation struct {
	// Port is incident-sim's default port for this simulator.
	Port int
	// New makes a simulator serving the demo's kind of dataset.
	New func(o SimOptions) Simulator
	// Flags, when set, registers flags tuning the simulator (its rate
	// limits, a latency) on fs, named after the vendor key, and returns New
	// with their values applied. incident-sim calls it before parsing.
	Flags func(fs *flag.FlagSet) func(o SimOptions) Simulator
	// Instance is the configuration of an instance that uses the
	// simulator at url with the simulator's own credentials: the file keys
	// after name and vendor, one "key: value" a line. With unlimited, the
	// driver's own pacing is lifted too, for a simulator without limits.
	Instance func(url string, unlimited bool) string
	// Env is the same instance as NAME=value environment variables.
	Env func(url string, unlimited bool) []string
	// Route names the endpoint a request to the simulator counts against
	// (vendors bound requests in flight per endpoint) and tells whether
	// the vendor's rate limit counts it: incident-sim's watch.
	Route func(r *http.Request) (route string, limited bool)
}

// SimOptions configure a simulator.
type SimOptions struct {
	Seed      int64
	Incidents int
	// Now is the time the dataset is dated from.
	Now time.Time
	// Unlimited lifts the simulator's rate and concurrency limits.
	Unlimited bool
}

// Simulator is a running vendor simulator: the vendor's API over HTTP.
type Simulator interface {
	http.Handler
	// FailNext makes the next n API requests answer status.
	FailNext(status, n int)
	// Stats are the simulator's own counters, as JSON.
	Stats() any
	// Facts are the incidents of the dataset that the simulator's own
	// credentials read, mapped from the vendor's record with the vendor's
	// documented meanings, not with the driver: what the evals check
	// answers against.
	Facts() []Fact
}

// TokenExpirer is a simulator whose access tokens expire; incident-sim can
// expire them on demand.
type TokenExpirer interface {
	ExpireTokens()
}

// Fact is what the evals know of one incident of a simulator's dataset,
// in the normalized vocabulary (severity, status and resolution names).
type Fact struct {
	ID, Instance   string
	Severity       string
	Status         string
	Resolution     string
	Created        time.Time
	Updated        time.Time
	Title, Desc    string
	Tags           []string
	DeviceIDs      []string
	DeviceNames    []string
	UserIDs        []string
	Assignee       string
	Techniques     []string
	Policy, Tenant string
	// People are the user names the vendor's record gives: logins, e-mail
	// local parts, account names and display names, as the vendor spells
	// them.
	People []string
}
