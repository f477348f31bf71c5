package prompts

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"unicode"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/schema"
)

//go:embed instructions.md
var instructions string

// Instructions are the server instructions of a server with the default
// confirmation policy (the client's form or the approval page; never the
// token). A server states its own policy with InstructionsFor.
var Instructions = InstructionsFor(Confirmation{Elicitation: true, Approval: true})

// Confirmation says which confirmation paths of update_incident the server
// opens (for someone): the instructions and the write prompts describe
// those, and never a path that is closed.
type Confirmation struct {
	// Elicitation: the client's form asks the user.
	Elicitation bool
	// Approval: the result carries an approval URL a person decides on.
	Approval bool
	// Token: the result is a preview with a confirmation_token to relay.
	Token bool
	// ReadOnly: the server never writes; update_incident is not offered.
	ReadOnly bool
}

// Sentence is the instructions' line on confirming writes.
func (c Confirmation) Sentence() string {
	if c.ReadOnly {
		return "This server is read-only: it offers no tool that changes incidents."
	}
	var ways []string
	if c.Elicitation {
		ways = append(ways, "the client asks the user (elicitation)")
	}
	if c.Approval {
		ways = append(ways, "the user decides on the result's approval URL (not you), then call again with the same arguments plus approval_id")
	}
	if c.Token {
		ways = append(ways, "show the preview to the user and only after they approve it call again with its confirmation_token")
	}
	if len(ways) == 0 {
		return "update_incident cannot be confirmed on this server: no confirmation path is open, so do not try to change incidents."
	}
	return "update_incident writes only once a person confirms: " + strings.Join(ways, "; or ") + "."
}

// InstructionsFor renders the server instructions for the paths c opens.
func InstructionsFor(c Confirmation) string {
	return strings.Replace(instructions, "{{confirm}}", c.Sentence(), 1)
}

//go:embed templates/*.tmpl
var files embed.FS

// kind is the type of a prompt argument: MCP passes every argument as a
// string, so each kind says how that string is read and checked.
type kind int

const (
	kindInstances  kind = iota // comma-separated configured instance names
	kindAge                    // an age before now: 90m, 24h, 7d, 2w
	kindSeverity               // a normalized severity
	kindIncidentID             // <instance>:<native id> of a configured instance
	kindText                   // one line of free text from the user
)

type arg struct {
	name, title, desc string
	kind              kind
	required          bool
	def               string // used when the argument is left out
	example           string
}

type spec struct {
	name, title, desc string
	args              []arg
	// writes marks a prompt whose workflow calls update_incident: a
	// read-only server does not offer it.
	writes bool
}

const maxText = 500

// specs are the prompts in the order prompts/list shows them.
var specs = []spec{
	{"triage", "Triage the incident queue",
		"Find what needs attention now: recent open incidents at or above a severity, grouped by device, user and technique, with a proposed next action for each. Reads only; changes nothing.",
		[]arg{
			{"instances", "Instances", "Which instances to look at, comma-separated (default: all configured).", kindInstances, false, "", "eset,kaspersky"},
			{"window", "Time window", "How far back to look, as an age: 90m, 24h, 3d, 2w (default 24h).", kindAge, false, "24h", "3d"},
			{"min_severity", "Minimum severity", "Lowest severity to include: informational, low, medium, high, critical (default medium).", kindSeverity, false, "medium", "high"},
		}, false},
	{"investigate", "Investigate one incident",
		"Read one incident in full, find related incidents across instances (same device, user, tag, MITRE technique or time window) and build a timeline. Reads only; changes nothing.",
		[]arg{
			{"incident_id", "Incident id", "The incident to investigate, as list_incidents shows it: '<instance>:<native id>'.", kindIncidentID, true, "", "eset:00000000-0000-4000-8000-000000000000"},
		}, false},
	{"report", "Incident report",
		"A short report a manager can read: counts by severity, status and instance for a period, plus the notable incidents and trends. Reads only; changes nothing.",
		[]arg{
			{"window", "Period", "The period to report on, as an age before now: 24h, 7d, 2w (default 7d).", kindAge, false, "7d", "7d"},
			{"instances", "Instances", "Which instances to include, comma-separated (default: all configured).", kindInstances, false, "", "dlp"},
		}, false},
	{"close_false_positive", "Close as false positive",
		"Close one incident as a false positive with your reason as the closing comment. The assistant shows you the exact change and writes only after you confirm it.",
		[]arg{
			{"incident_id", "Incident id", "The incident to close: '<instance>:<native id>'.", kindIncidentID, true, "", "dlp:incident-1000000"},
			{"reason", "Reason", "Why it is a false positive, in one line (kept as the closing comment where the vendor stores one).", kindText, true, "", "Admin script run by IT during patching"},
		}, true},
	{"handoff", "Shift handoff",
		"What changed during a shift: incidents created, closed and still open in the window, with what the next shift should do first. Reads only; changes nothing.",
		[]arg{
			{"window", "Shift length", "The shift to cover, as an age before now: 8h, 12h (default 8h).", kindAge, false, "8h", "12h"},
			{"instances", "Instances", "Which instances to include, comma-separated (default: all configured).", kindInstances, false, "", ""},
		}, false},
}

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
	"call": renderCall,
	"list": func(vs ...string) []string { return vs },
}).ParseFS(files, "templates/*.tmpl"))

// renderCall writes a tool call as `name {json}` from key/value pairs,
// leaving out empty values, so a template can only produce valid JSON.
func renderCall(tool string, kv ...any) (string, error) {
	if len(kv)%2 != 0 {
		return "", fmt.Errorf("call %s: odd number of key/value arguments", tool)
	}
	var b bytes.Buffer
	b.WriteString("{")
	first := true
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return "", fmt.Errorf("call %s: key %v is not a string", tool, kv[i])
		}
		if v, ok := kv[i+1].(string); ok && v == "" {
			continue
		}
		v, err := json.Marshal(kv[i+1])
		if err != nil {
			return "", err
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%q: %s", k, v)
	}
	b.WriteString("}")
	return "`" + tool + " " + b.String() + "`", nil
}

// Catalog serves the prompts for a set of configured instances.
type Catalog struct {
	instances []string
	readOnly  bool
	// visible, when set, narrows the instances to the caller's own on
	// each request (access rules).
	visible func(context.Context) []string
	confirm Confirmation
}

// PerCaller makes each request see only the instances visible returns for
// its caller: the names the prompts list and the instances they accept.
func (c *Catalog) PerCaller(visible func(context.Context) []string) *Catalog {
	c.visible = visible
	return c
}

// Writes reports whether the named prompt's workflow changes incidents.
func Writes(name string) bool {
	i := slices.IndexFunc(specs, func(s spec) bool { return s.name == name })
	return i >= 0 && specs[i].writes
}

// New returns the prompts for a server with these instances and the
// default confirmation paths (see Instructions). A read-only server leaves
// out the prompts whose workflow writes.
func New(instances []string, readOnly bool) *Catalog {
	return &Catalog{instances: slices.Clone(instances), readOnly: readOnly, confirm: Confirmation{Elicitation: true, Approval: true}}
}

// WithConfirmation makes the write prompts describe only the paths c opens.
func (c *Catalog) WithConfirmation(conf Confirmation) *Catalog {
	c.confirm = conf
	return c
}

// Names lists the prompt names.
func Names() []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.name
	}
	return out
}

// Examples returns example arguments for a prompt, as its argument
// descriptions show them.
func Examples(name string) map[string]string {
	out := map[string]string{}
	for _, s := range specs {
		if s.name != name {
			continue
		}
		for _, a := range s.args {
			if a.example != "" {
				out[a.name] = a.example
			}
		}
	}
	return out
}

// ServerPrompts returns the prompts with their handlers, for server.AddPrompts.
func (c *Catalog) ServerPrompts() []server.ServerPrompt {
	out := make([]server.ServerPrompt, 0, len(specs))
	for _, s := range specs {
		if s.writes && c.readOnly {
			continue
		}
		opts := []mcp.PromptOption{mcp.WithPromptTitle(s.title), mcp.WithPromptDescription(s.desc)}
		for _, a := range s.args {
			aopts := []mcp.ArgumentOption{mcp.ArgumentDescription(a.desc)}
			if a.required {
				aopts = append(aopts, mcp.RequiredArgument())
			}
			opts = append(opts, mcp.WithArgument(a.name, aopts...))
		}
		out = append(out, server.ServerPrompt{
			Prompt: mcp.NewPrompt(s.name, opts...),
			Handler: func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				if c.visible != nil {
					own := *c
					own.instances = c.visible(ctx)
					return own.Render(req.Params.Name, req.Params.Arguments)
				}
				return c.Render(req.Params.Name, req.Params.Arguments)
			},
		})
	}
	return out
}

// Render validates the arguments and renders one prompt.
func (c *Catalog) Render(name string, args map[string]string) (*mcp.GetPromptResult, error) {
	i := slices.IndexFunc(specs, func(s spec) bool { return s.name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w: unknown prompt %q; prompts are %s", mcp.ErrInvalidParams, name, strings.Join(Names(), ", "))
	}
	s := specs[i]
	if s.writes && c.readOnly {
		return nil, fmt.Errorf("%w: prompt %q changes incidents and this server is read-only", mcp.ErrInvalidParams, name)
	}
	data, err := c.bind(s, args)
	if err != nil {
		return nil, fmt.Errorf("%w: prompt %s: %w", mcp.ErrInvalidParams, name, err)
	}
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, s.name+".tmpl", data); err != nil {
		return nil, fmt.Errorf("render prompt %s: %w", name, err)
	}
	return mcp.NewGetPromptResult(s.desc, []mcp.PromptMessage{
		mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(strings.TrimSpace(b.String()))),
	}), nil
}

// data is what the templates see.
type data struct {
	Instances   []string
	Window      string
	MinSeverity string
	ID          string
	Reason      string
	// Active are the statuses that still need work.
	Active []string
	// Confirm are the confirmation paths the server opens.
	Confirm Confirmation
}

var age = regexp.MustCompile(`^[1-9][0-9]{0,4}(m|h|d|w)$`)

func (c *Catalog) bind(s spec, in map[string]string) (*data, error) {
	known := make([]string, len(s.args))
	for i, a := range s.args {
		known[i] = a.name
	}
	for k := range in {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("unknown argument %q; arguments are %s", k, strings.Join(known, ", "))
		}
	}
	d := &data{Instances: c.instances, Active: []string{"open", "in_progress", "on_hold"}, Confirm: c.confirm}
	for _, a := range s.args {
		v := strings.TrimSpace(in[a.name])
		if v == "" {
			v = a.def
		}
		if v == "" {
			if a.required {
				return nil, fmt.Errorf("argument %q is required: %s", a.name, a.desc)
			}
			continue
		}
		if err := c.set(d, a, v); err != nil {
			return nil, fmt.Errorf("argument %q: %w", a.name, err)
		}
	}
	return d, nil
}

func (c *Catalog) set(d *data, a arg, v string) error {
	switch a.kind {
	case kindInstances:
		var names []string
		for _, n := range strings.Split(v, ",") {
			n = strings.TrimSpace(n)
			if n == "" || slices.Contains(names, n) {
				continue
			}
			if !slices.Contains(c.instances, n) {
				return fmt.Errorf("unknown instance %q; configured instances are %s", n, strings.Join(c.instances, ", "))
			}
			names = append(names, n)
		}
		if len(names) > 0 {
			d.Instances = names
		}
	case kindAge:
		v = strings.ToLower(v)
		if !age.MatchString(v) {
			return fmt.Errorf("%q is not an age; use a number and a unit, like 90m, 24h, 7d or 2w", v)
		}
		d.Window = v
	case kindSeverity:
		sev, ok := schema.ParseSeverity(v)
		if !ok {
			return fmt.Errorf("unknown severity %q; use informational, low, medium, high or critical", v)
		}
		d.MinSeverity = string(sev)
	case kindIncidentID:
		inst, _, ok := schema.SplitID(v)
		if !ok {
			return fmt.Errorf("%q is not an incident id; use '<instance>:<native id>' as list_incidents shows it", v)
		}
		if !slices.Contains(c.instances, inst) {
			return fmt.Errorf("incident %q names instance %q; configured instances are %s", v, inst, strings.Join(c.instances, ", "))
		}
		d.ID = v
	case kindText:
		if len([]rune(v)) > maxText {
			return fmt.Errorf("longer than %d characters", maxText)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
			return fmt.Errorf("one line of text without control characters")
		}
		d.Reason = v
	}
	return nil
}
