// Package config reads the server's configuration file: any number of named
// vendor instances, each with its endpoint, credentials by reference, tenants,
// read-only flag, rate limit and budget. The file is YAML, decoded strictly:
// an unknown key, a missing credential or a value of the wrong kind refuses
// the whole file with a message naming the key and its line.
//
// The package knows no vendor and imports none: the caller hands it a Table
// of settings.Vendor rows (the settings part of each vendor's descriptor,
// listed by vendors/registry) that decodes each instance's vendor-specific
// keys. Decoding itself is package settings.
package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/settings"
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

// Instance is one configured vendor account.
type Instance struct {
	Name     string
	Vendor   string
	ReadOnly bool
	// Budget overrides File.Budget for this instance's calls.
	Budget Budget
	// Settings are the vendor-specific settings, validated.
	Settings settings.Settings
	// Line is where the instance starts in the file (0 when not from a file).
	Line int
}

// Table is the vendors a file may configure, one row each.
type Table []settings.Vendor

// Lookup returns the row of a vendor key.
func (t Table) Lookup(key string) (*settings.Vendor, bool) {
	i := slices.IndexFunc(t, func(v settings.Vendor) bool { return v.Key == key })
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
	return Parse(data, settings.Source{Path: path, Mode: fi.Mode(), Getenv: getenv}, table)
}

// Parse validates a configuration read from src.
func Parse(data []byte, src settings.Source, table Table) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(src.Path, err)
	}
	if len(root.Content) == 0 {
		return nil, &settings.Error{File: src.Path, Key: "(file)", Msg: "empty; it needs an instances list"}
	}
	p := &parser{all: settings.NewProblems(src), table: table}
	top := p.all.Decoder(root.Content[0], "")
	f := &File{}
	var instances, rules []*yaml.Node
	top.String("redis_url", &f.RedisURL)
	top.Struct("budget", &f.Budget)
	top.Node("confirm", &f.Confirm)
	top.Nodes("instances", &instances)
	top.Nodes("access", &rules)
	top.Finish()
	if f.RedisURL != "" {
		if err := settings.CheckURL(f.RedisURL, "redis", "rediss"); err != nil {
			top.Fail("redis_url", err.Error())
		}
	}
	checkBudget(top, "budget", f.Budget)
	if len(instances) == 0 && !top.Has("instances") {
		top.Missing("instances", "no instance configured; list at least one with name, vendor and its credentials")
	} else if len(instances) == 0 && top.Err() == nil {
		top.Fail("instances", "no instance configured; list at least one with name, vendor and its credentials")
	}
	seen := map[string]int{}
	for i, n := range instances {
		in := p.instance(n, fmt.Sprintf("instances[%d]", i))
		if in == nil {
			continue
		}
		if line, dup := seen[in.Name]; dup {
			p.all.Add(&settings.Error{File: src.Path, Line: n.Line, Column: n.Column, Key: fmt.Sprintf("instances[%d].name", i), Msg: fmt.Sprintf("%q is already the name of the instance on line %d; names must be unique", in.Name, line)}, nil)
			continue
		}
		seen[in.Name] = n.Line
		f.Instances = append(f.Instances, *in)
	}
	if top.Has("access") && p.all.Len() == 0 {
		// Access rules name instances, so they are checked once the
		// instances are known to be sound.
		if len(rules) == 0 {
			top.Fail("access", "no rule: list rules of who, instances and rights, or leave the section out to let every caller do everything")
		} else if pol, err := p.accessSection(rules, f.Instances); err != nil {
			p.all.Add(err, &settings.Error{File: src.Path, Key: "access"})
		} else {
			f.Access = pol
		}
	}
	if err := p.all.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// syntaxError is a YAML syntax error at the line the parser names.
func syntaxError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &settings.Error{File: path, Key: "(file)", Msg: msg}
	var line int
	if _, serr := fmt.Sscanf(msg, "line %d:", &line); serr == nil {
		e.Line = line
		e.Msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return e
}

type parser struct {
	table Table
	all   *settings.Problems
}

// instance decodes one instance, recording its problems; nil when it has any.
func (p *parser) instance(n *yaml.Node, path string) *Instance {
	d := p.all.Decoder(n, path)
	in := &Instance{Line: n.Line}
	d.String("name", &in.Name)
	d.String("vendor", &in.Vendor)
	d.Bool("read_only", &in.ReadOnly)
	d.Struct("budget", &in.Budget)
	switch {
	case !d.Has("name"):
		d.Missing("name", "missing; every instance needs a unique name (it prefixes incident ids)")
	case in.Name != "" && !instanceName.MatchString(in.Name):
		d.Fail("name", fmt.Sprintf("%q: use lower-case letters, digits, '-', '_' or '.', at most 63 characters", in.Name))
	}
	if !d.Has("vendor") {
		d.Missing("vendor", "missing; one of "+p.table.keys())
	}
	if in.Vendor == "" {
		// Which keys belong here depends on the vendor: name only the
		// likely misspellings of the common ones ("vendr").
		d.FinishNear()
		return nil
	}
	row, ok := p.table.Lookup(in.Vendor)
	if !ok {
		msg := fmt.Sprintf("unknown vendor %q; one of %s", in.Vendor, p.table.keys())
		if near := settings.Closest(in.Vendor, strings.Split(p.table.keys(), ", ")); near != "" {
			msg = fmt.Sprintf("unknown vendor %q; did you mean %s? (one of %s)", in.Vendor, near, p.table.keys())
		}
		d.Fail("vendor", msg)
		return nil
	}
	checkBudget(d, "budget", in.Budget)
	s, err := row.Decode(d)
	if err == nil {
		err = d.Finish()
	}
	if err != nil {
		p.all.Add(err, &settings.Error{File: p.all.Source().Path, Line: n.Line, Column: n.Column, Key: path})
	}
	if err != nil || d.Err() != nil {
		return nil
	}
	in.Settings = s
	return in
}

func checkBudget(d *settings.Decoder, key string, b Budget) {
	if b.Requests < 0 || b.Time < 0 {
		d.Fail(key, "requests and time must not be negative")
	}
}

// FromEnv builds the one-instance-per-vendor configuration of the
// environment; instances are named by their vendor key.
func FromEnv(table Table, getenv func(string) string) (*File, error) {
	env := settings.Env{Get: getenv}
	f := &File{}
	for _, v := range table {
		s, ok, err := v.FromEnv(env)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ro, err := env.ReadOnly(v.Key)
		if err != nil {
			return nil, err
		}
		f.Instances = append(f.Instances, Instance{Name: v.Key, Vendor: v.Key, ReadOnly: ro, Settings: s})
	}
	return f, nil
}

// EnvHelp documents every vendor's environment variables.
func (t Table) EnvHelp() string {
	var b strings.Builder
	for _, v := range t {
		b.WriteString(v.EnvHelp)
	}
	return b.String()
}
