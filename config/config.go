// Package config reads the server's configuration file: any number of named
// vendor instances, each with its endpoint, credentials by reference, tenants,
// read-only flag, rate limit and budget. The file is YAML, decoded strictly:
// an unknown key, a missing credential or a value of the wrong kind refuses
// the whole file with a message naming the key and its line.
//
// The package knows no vendor. A Table of Vendor rows (see vendors/registry)
// decodes each instance's vendor-specific keys; a fourth vendor is one more row.
package config

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// File is a validated configuration.
type File struct {
	// RedisURL is the Redis the replicas share (confirmation nonces, write
	// locks, vendor limits); INCIDENT_MCP_REDIS_URL overrides it.
	RedisURL string
	// Budget is the per-call scan budget for every instance without its own.
	Budget Budget
	// Confirm is the `confirm:` section, how writes are confirmed per
	// instance and kind of change; its owner (the approval policy) decodes
	// it.
	Confirm *yaml.Node
	// Instances are in file order.
	Instances []Instance
	// Access is the `access:` section, who may read, write and approve on
	// which instance; nil when absent (everyone may do everything).
	Access *access.Policy
}

// Budget bounds the upstream work of one call; a zero field keeps the
// server's default.
type Budget struct {
	Requests int           `yaml:"requests"`
	Time     time.Duration `yaml:"time"`
}

// RateLimit paces one instance's requests: Requests per Per, at most
// Concurrent at once. Zero fields keep the vendor's documented limits.
type RateLimit struct {
	Requests   int           `yaml:"requests"`
	Per        time.Duration `yaml:"per"`
	Concurrent int           `yaml:"concurrent"`
}

// Instance is one configured vendor account.
type Instance struct {
	Name     string
	Vendor   string
	ReadOnly bool
	// Budget overrides File.Budget for this instance's calls.
	Budget Budget
	// Settings are the vendor-specific settings, validated.
	Settings Settings
	// Line is where the instance starts in the file (0 when not from a file).
	Line int
}

// Settings are one instance's vendor-specific settings after validation.
type Settings interface {
	// Driver builds the instance's driver. It does no network I/O.
	Driver(opts DriverOptions) (driver.Driver, error)
	// Summary describes the settings for people: endpoint, where each
	// credential comes from, tenants, rate limit. Never a secret.
	Summary() []string
	// RateLimit is the effective rate limit in words.
	RateLimit() string
}

// DriverOptions are what the command passes to every driver it builds.
type DriverOptions struct {
	Logger *slog.Logger
	// HTTPClient, when set, replaces the driver's default client (metrics
	// and tracing per instance). Drivers that build their own TLS client
	// (a CA file, verification off) keep it.
	HTTPClient *http.Client
	// Instance is the instance's name (errors and metrics of its HTTP layer).
	Instance string
	// Observer, when set, sees the instance's HTTP layer (metrics).
	Observer VendorObserver
	// Shared, when set, makes each credential's vendor limits shared by the
	// replicas of the server (through Redis) instead of per process.
	Shared SharedLimits
}

// SharedLimits makes the rate limit and the bound on requests in flight of
// one vendor credential shared by every replica. name identifies the
// credential; every replica must ask with the same name and numbers.
type SharedLimits interface {
	// Limiter allows at most limit requests in any window of per.
	Limiter(name string, limit int, per time.Duration) driver.Limiter
	// Semaphore allows at most slots requests in flight.
	Semaphore(name string, slots int) driver.Semaphore
}

// VendorObserver sees a vendor instance's HTTP layer: the method set of
// the drivers' shared layer's Observer (vendors/internal/httpx), declared
// here because that package is internal to vendors/.
type VendorObserver interface {
	Request(instance, method string, status int, d time.Duration)
	Retry(instance, method, reason string)
	BreakerState(instance, state string)
	LimiterWait(instance string, d time.Duration)
}

// Vendor is one row of the vendor registry: how an instance of that vendor
// is configured.
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

// Table is the vendor registry.
type Table []Vendor

// Lookup returns the row of a vendor key.
func (t Table) Lookup(key string) (*Vendor, bool) {
	i := slices.IndexFunc(t, func(v Vendor) bool { return v.Key == key })
	if i < 0 {
		return nil, false
	}
	return &t[i], true
}

func (t Table) keys() string {
	ks := make([]string, len(t))
	for i, v := range t {
		ks[i] = v.Key
	}
	return strings.Join(ks, ", ")
}

// Error is a configuration error at a key, line and column.
type Error struct {
	File   string
	Line   int
	Column int
	// Key is the path of the key at fault, e.g. "instances[1].password_file".
	Key  string
	Msg  string
	kind errorKind
}

// errorKind orders a file's errors the way a person fixes them: a
// misspelt key first (it explains a "missing" further down), then the
// values that are missing, then the rest.
type errorKind int

const (
	kindOther errorKind = iota
	kindUnknown
	kindMissing
)

// rank is the group an error is listed in.
func (k errorKind) rank() int {
	return map[errorKind]int{kindUnknown: 0, kindMissing: 1, kindOther: 2}[k]
}

func (e *Error) Error() string {
	loc := e.File
	switch {
	case e.Line > 0 && e.Column > 0:
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	case e.Line > 0:
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if loc == "" {
		return e.Key + ": " + e.Msg
	}
	return loc + ": " + e.Key + ": " + e.Msg
}

// Errors is every problem of one configuration, unknown keys first, then
// missing values, then the rest, each group in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	if len(es) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems in the configuration:\n  %s", len(es), strings.Join(lines, "\n  "))
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	out := Errors(slices.Clone(p.list))
	slices.SortStableFunc(out, func(a, b *Error) int {
		if a.kind != b.kind {
			return a.kind.rank() - b.kind.rank()
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return out
}

// instanceName is what the service accepts as an instance name, kept short
// and plain because it prefixes every incident id.
var instanceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Load reads and validates the configuration file at path. getenv resolves
// *_env credential references.
func Load(path string, table Table, getenv func(string) string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, Source{Path: path, Mode: fi.Mode(), Getenv: getenv}, table)
}

// Source is where a configuration comes from: its path (for messages and
// relative files), its file mode (inline secrets need 0600) and the
// environment (*_env references).
type Source struct {
	Path   string
	Mode   fs.FileMode
	Getenv func(string) string
}

// Parse validates a configuration read from src.
func Parse(data []byte, src Source, table Table) (*File, error) {
	if src.Getenv == nil {
		src.Getenv = func(string) string { return "" }
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(src.Path, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: src.Path, Key: "(file)", Msg: "empty; it needs an instances list"}
	}
	p := &parser{src: src, table: table}
	top := p.decoder(root.Content[0], "")
	f := &File{}
	var instances, rules []*yaml.Node
	top.String("redis_url", &f.RedisURL)
	top.Struct("budget", &f.Budget)
	top.Node("confirm", &f.Confirm)
	top.Nodes("instances", &instances)
	top.Nodes("access", &rules)
	top.Finish()
	if f.RedisURL != "" {
		if err := checkURL(f.RedisURL, "redis", "rediss"); err != nil {
			top.failKey("redis_url", err.Error())
		}
	}
	checkBudget(top, "budget", f.Budget)
	if len(instances) == 0 && !top.Has("instances") {
		top.record(top.missing("instances", "no instance configured; list at least one with name, vendor and its credentials").(*Error))
	} else if len(instances) == 0 && top.err == nil {
		top.failKey("instances", "no instance configured; list at least one with name, vendor and its credentials")
	}
	seen := map[string]int{}
	for i, n := range instances {
		in := p.instance(n, fmt.Sprintf("instances[%d]", i))
		if in == nil {
			continue
		}
		if line, dup := seen[in.Name]; dup {
			p.all.add(&Error{File: src.Path, Line: n.Line, Column: n.Column, Key: fmt.Sprintf("instances[%d].name", i), Msg: fmt.Sprintf("%q is already the name of the instance on line %d; names must be unique", in.Name, line)}, nil)
			continue
		}
		seen[in.Name] = n.Line
		f.Instances = append(f.Instances, *in)
	}
	if top.Has("access") && len(p.all.list) == 0 {
		// Access rules name instances, so they are checked once the
		// instances are known to be sound.
		if len(rules) == 0 {
			top.failKey("access", "no rule: list rules of who, instances and rights, or leave the section out to let every caller do everything")
		} else if pol, err := p.accessSection(rules, f.Instances); err != nil {
			p.all.add(err, &Error{File: p.src.Path, Key: "access"})
		} else {
			f.Access = pol
		}
	}
	if err := p.all.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// syntaxError is a YAML syntax error at the line the parser names.
func syntaxError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: path, Key: "(file)", Msg: msg}
	var line int
	if _, serr := fmt.Sscanf(msg, "line %d:", &line); serr == nil {
		e.Line = line
		e.Msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return e
}

type parser struct {
	src   Source
	table Table
	all   problems
}

func (p *parser) decoder(n *yaml.Node, path string) *Decoder {
	return &Decoder{node: n, path: path, src: &p.src, fields: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, all: &p.all}
}

// instance decodes one instance, recording its problems; nil when it has any.
func (p *parser) instance(n *yaml.Node, path string) *Instance {
	d := p.decoder(n, path)
	in := &Instance{Line: n.Line}
	d.String("name", &in.Name)
	d.String("vendor", &in.Vendor)
	d.Bool("read_only", &in.ReadOnly)
	d.Struct("budget", &in.Budget)
	switch {
	case !d.Has("name"):
		d.record(d.missing("name", "missing; every instance needs a unique name (it prefixes incident ids)").(*Error))
	case in.Name != "" && !instanceName.MatchString(in.Name):
		d.failKey("name", fmt.Sprintf("%q: use lower-case letters, digits, '-', '_' or '.', at most 63 characters", in.Name))
	}
	if !d.Has("vendor") {
		d.record(d.missing("vendor", "missing; one of "+p.table.keys()).(*Error))
	}
	if in.Vendor == "" {
		// Which keys belong here depends on the vendor: name only the
		// likely misspellings of the common ones ("vendr").
		d.finish(true)
		return nil
	}
	row, ok := p.table.Lookup(in.Vendor)
	if !ok {
		msg := fmt.Sprintf("unknown vendor %q; one of %s", in.Vendor, p.table.keys())
		if near := closest(in.Vendor, strings.Split(p.table.keys(), ", ")); near != "" {
			msg = fmt.Sprintf("unknown vendor %q; did you mean %s? (one of %s)", in.Vendor, near, p.table.keys())
		}
		d.failKey("vendor", msg)
		return nil
	}
	checkBudget(d, "budget", in.Budget)
	s, err := row.Decode(d)
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		p.all.add(err, &Error{File: p.src.Path, Line: n.Line, Column: n.Column, Key: path})
	}
	if err != nil || d.err != nil {
		return nil
	}
	in.Settings = s
	return in
}

func checkBudget(d *Decoder, key string, b Budget) {
	if b.Requests < 0 || b.Time < 0 {
		d.failKey(key, "requests and time must not be negative")
	}
}

// checkURL accepts an absolute URL with one of schemes and a host.
func checkURL(s string, schemes ...string) error {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !slices.Contains(schemes, scheme) || rest == "" || strings.HasPrefix(rest, "/") || strings.ContainsAny(s, " \t\n") {
		return fmt.Errorf("%q is not a URL like %s://host", s, schemes[0])
	}
	return nil
}
