package filter

import (
	"context"
	"fmt"
	"github.com/incident-mcp/incident-mcp/schema"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Limits of the filter language. They bound what one request can cost the
// server, whatever a model writes into `where`.
const (
	MaxWhereLen        = 2000    // code points
	maxParseDepth      = 32      // parser recursion
	maxNodes           = 500     // AST nodes after macro expansion
	maxEstimatedCost   = 100_000 // static cost estimate per incident
	maxRuntimeCost     = 100_000 // actual cost per incident
	assumedListSize    = 100     // tags, devices, ids: used by the cost estimate
	assumedStringBytes = 4096    // titles, descriptions
)

// celIncident is the view of an Incident that filters see. Severity is an
// int so that `incident.severity >= HIGH` orders; optional objects are values
// so that `incident.assignee.id == ""` works on unassigned incidents.
type celIncident struct {
	ID              string    `cel:"id"`
	Instance        string    `cel:"instance"`
	Vendor          string    `cel:"vendor"`
	Tenant          string    `cel:"tenant"`
	Number          string    `cel:"number"`
	Title           string    `cel:"title"`
	Description     string    `cel:"description"`
	Severity        int64     `cel:"severity"`
	VendorSeverity  string    `cel:"vendor_severity"`
	Status          string    `cel:"status"`
	VendorStatus    string    `cel:"vendor_status"`
	Resolution      string    `cel:"resolution"`
	Priority        string    `cel:"priority"`
	Assignee        celRef    `cel:"assignee"`
	CreatedAt       time.Time `cel:"created_at"`
	UpdatedAt       time.Time `cel:"updated_at"`
	StatusChangedAt time.Time `cel:"status_changed_at"`
	Tags            []string  `cel:"tags"`
	Devices         []celRef  `cel:"devices"`
	Users           []celRef  `cel:"users"`
	Policy          celRef    `cel:"policy"`
	Counts          celCounts `cel:"counts"`
	DetectionIDs    []string  `cel:"detection_ids"`
	AlertIDs        []string  `cel:"alert_ids"`
	Mitre           celMitre  `cel:"mitre"`
}

type celRef struct {
	ID   string `cel:"id"`
	Name string `cel:"name"`
}

type celCounts struct {
	Devices     int64 `cel:"devices"`
	Detections  int64 `cel:"detections"`
	Alerts      int64 `cel:"alerts"`
	Processes   int64 `cel:"processes"`
	Executables int64 `cel:"executables"`
}

type celMitre struct {
	Tactics    []string `cel:"tactics"`
	Techniques []string `cel:"techniques"`
}

// Fields lists the incident fields a `where` expression can use, with
// their CEL types, for error messages and tool descriptions.
var Fields = func() []string {
	var out []string
	t := reflect.TypeFor[celIncident]()
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, f.Tag.Get("cel")+" "+celTypeName(f.Type))
	}
	return out
}()

func celTypeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "(timestamp)"
	case t == reflect.TypeFor[celRef]():
		return "{id, name}"
	case t == reflect.TypeFor[[]celRef]():
		return "(list of {id, name})"
	case t == reflect.TypeFor[celCounts]():
		return "{devices, detections, alerts, processes, executables}"
	case t == reflect.TypeFor[celMitre]():
		return "{tactics, techniques}"
	case t.Kind() == reflect.Slice:
		return "(list of string)"
	case t.Kind() == reflect.Int64:
		return "(int)"
	}
	return "(string)"
}

// Language is the filter language of one deployment: the normalized
// vocabulary of package schema plus the close reasons its vendors keep
// verbatim (driver.Info.Resolutions of the configured instances). Those
// values are CEL constants (INVALID_OTHER) and the only literals
// `incident.resolution` may be compared with, so a deployment without a
// vendor refuses its values like any misspelling. A Language compiles
// `where` expressions once per distinct text and keeps them in its own
// cache. It is safe for concurrent use.
type Language struct {
	resolutions []schema.Resolution
	constants   map[string]ref.Val
	// enums are the string fields whose values form a closed set.
	enums map[string][]string
	env   *cel.Env
	// full adds the structured arguments as variables, for the reference
	// program of MatchCEL; only tests need it.
	full  func() (*cel.Env, error)
	cache *lru[string, *whereProgram]
}

// programCacheSize is how many `where` programs a Language keeps: compiling
// one costs far more than a list call's other local work.
const programCacheSize = 256

// NewLanguage returns the language whose resolutions are the normalized ones
// and extra, the verbatim values the configured vendors declare (duplicates
// and normalized values among them are dropped). Each extra value must be a
// lower-case identifier ([a-z][a-z0-9_]*), which names its constant, and no
// severity or status: its constant would shadow theirs.
func NewLanguage(extra ...schema.Resolution) (*Language, error) {
	rs := slices.Clone(schema.Resolutions)
	for _, r := range extra {
		if err := checkVendorResolution(r); err != nil {
			return nil, err
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	l := &Language{
		resolutions: rs,
		constants:   map[string]ref.Val{},
		enums:       map[string][]string{"status": stringsOf(schema.Statuses), "resolution": stringsOf(rs)},
		cache:       newLRU[string, *whereProgram](programCacheSize),
	}
	for _, s := range schema.Severities {
		l.constants[strings.ToUpper(string(s))] = types.Int(s.Rank())
	}
	for _, s := range schema.Statuses {
		l.constants[strings.ToUpper(string(s))] = types.String(s)
	}
	for _, r := range rs {
		l.constants[strings.ToUpper(string(r))] = types.String(r)
	}
	env, err := newWhereEnv(l.constants)
	if err != nil {
		return nil, fmt.Errorf("filter environment: %w", err)
	}
	l.env = env
	l.full = sync.OnceValues(func() (*cel.Env, error) {
		var opts []cel.EnvOption
		for _, name := range slices.Sorted(maps.Keys(argVars)) {
			opts = append(opts, cel.Variable(name, argVars[name]))
		}
		return env.Extend(opts...)
	})
	return l, nil
}

// checkVendorResolution enforces NewLanguage's rule on one vendor value.
func checkVendorResolution(r schema.Resolution) error {
	s := string(r)
	ok := s != "" && s[0] >= 'a' && s[0] <= 'z'
	for _, c := range s {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_')
	}
	switch {
	case !ok:
		return fmt.Errorf("resolution %q: a vendor's own resolution must be a lower-case identifier ([a-z][a-z0-9_]*), the name of its filter constant", s)
	case schema.Severity(s).Valid() || schema.Status(s).Valid():
		return fmt.Errorf("resolution %q: a vendor's own resolution cannot be named like a severity or status: its filter constant would shadow theirs", s)
	}
	return nil
}

// Resolutions lists every resolution an incident can carry in this
// language: the normalized ones, then the vendors' own.
func (l *Language) Resolutions() []schema.Resolution { return slices.Clone(l.resolutions) }

// normalized is the language of the normalized vocabulary alone.
var normalized = sync.OnceValues(func() (*Language, error) { return NewLanguage() })

// Compile compiles with the normalized vocabulary alone: for drivers and
// tests, whose `where` expressions use no vendor's own resolutions. The
// service compiles with the Language of its configured instances.
func Compile(f schema.Filter, where string, now time.Time) (*Program, error) {
	l, err := normalized()
	if err != nil {
		return nil, err
	}
	return l.Compile(f, where, now)
}

// Variables bound per evaluation: the incident, the request's "now", and the
// structured arguments. Binding argument values as variables, rather than
// splicing them into source text, means no value can change an expression.
const (
	varIncident = "incident"
	varNow      = "now"
)

var argVars = map[string]*cel.Type{
	"arg_severities":     cel.ListType(cel.IntType),
	"arg_statuses":       cel.ListType(cel.StringType),
	"arg_created_after":  cel.TimestampType,
	"arg_created_before": cel.TimestampType,
	"arg_updated_after":  cel.TimestampType,
	"arg_updated_before": cel.TimestampType,
	"arg_title":          cel.StringType,
	"arg_assignee":       cel.StringType,
	"arg_tags":           cel.ListType(cel.StringType),
	"arg_device_ids":     cel.ListType(cel.StringType),
	"arg_user_ids":       cel.ListType(cel.StringType),
	"arg_policy_ids":     cel.ListType(cel.StringType),
	"arg_ids":            cel.ListType(cel.StringType),
	"arg_tenant":         cel.StringType,
}

// newWhereEnv is what a `where` expression sees: the incident, now, the
// enum constants and the string extensions.
func newWhereEnv(constants map[string]ref.Val) (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.NativeTypes(reflect.TypeFor[celIncident](), ext.ParseStructTags(true)),
		ext.Strings(),
		cel.Variable(varIncident, cel.ObjectType("filter.celIncident")),
		cel.Variable(varNow, cel.TimestampType),
		cel.Function("icontains",
			cel.MemberOverload("string_icontains_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(s, sub ref.Val) ref.Val {
					return types.Bool(ContainsFold(string(s.(types.String)), string(sub.(types.String))))
				}))),
		cel.ParserExpressionSizeLimit(MaxWhereLen + 2000),
		cel.ParserRecursionLimit(maxParseDepth),
		cel.ExpressionNodeLimit(maxNodes + 200),
		cel.DefaultUTCTimeZone(true),
	}
	for _, name := range slices.Sorted(maps.Keys(constants)) {
		v := constants[name]
		t := cel.StringType
		if v.Type() == types.IntType {
			t = cel.IntType
		}
		opts = append(opts, cel.Constant(name, t, v))
	}
	return cel.NewEnv(opts...)
}

// ContainsFold reports whether sub is within s, ignoring case.
func ContainsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// Program is a compiled query. The structured criteria are checked by plain
// Go code (recheck); the `where` expression, when there is one, by a CEL
// program compiled once per distinct text and cached. MatchCEL evaluates
// the whole query as one CEL program: the reference the differential tests
// hold Match to.
type Program struct {
	Criteria schema.Criteria
	Where    string
	Now      time.Time
	check    recheck
	where    *whereProgram
	now      *activation // binds only `now`; where programs see no arguments
	fields   map[string]bool
	lang     *Language

	ref struct {
		once sync.Once
		prg  cel.Program
		args map[string]any
		err  error
	}
}

// Compile validates the structured filter and the `where` expression, with
// relative times resolved against now. Only `where` is compiled (and only
// on its first use: the language caches programs by their text).
func (l *Language) Compile(f schema.Filter, where string, now time.Time) (*Program, error) {
	now = now.UTC()
	crit, err := f.Resolve(now)
	if err != nil {
		return nil, err
	}
	p := &Program{Criteria: crit, Where: strings.TrimSpace(where), Now: now, lang: l}
	p.check, p.fields = newRecheck(&crit)
	if p.Where != "" {
		wp, err := l.compileWhere(p.Where)
		if err != nil {
			return nil, err
		}
		p.where = wp
		for f := range wp.fields {
			p.fields[f] = true
		}
		p.now = &activation{args: map[string]any{varNow: now}}
	}
	return p, nil
}

// whereProgram is a checked and planned `where` expression.
type whereProgram struct {
	prg    cel.Program
	ast    *cel.Ast
	fields map[string]bool
}

func (l *Language) compileWhere(where string) (*whereProgram, error) {
	if wp, ok := l.cache.get(where); ok {
		return wp, nil
	}
	checked, err := l.checkWhere(where)
	if err != nil {
		return nil, err
	}
	prg, err := l.env.Program(checked,
		cel.CostLimit(maxRuntimeCost),
		cel.InterruptCheckFrequency(64),
		cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		// Planning fails on what checking cannot see: a constant regular
		// expression that does not compile.
		return nil, schema.ArgError("where", "%s", l.explainCELError(err.Error()))
	}
	wp := &whereProgram{prg: prg, ast: checked, fields: referencedFields(checked.NativeRep())}
	l.cache.put(where, wp)
	return wp, nil
}

// referenceSource is the whole query as one CEL expression over bound
// argument variables, and the values of those variables.
func referenceSource(crit *schema.Criteria, where string, now time.Time) (string, map[string]any) {
	args := map[string]any{varNow: now}
	var terms []string
	add := func(term, arg string, val any) {
		terms = append(terms, term)
		if arg != "" {
			args[arg] = val
		}
	}
	if crit.Impossible {
		add("false", "", nil)
	}
	if len(crit.Severities) > 0 && len(crit.Severities) < len(schema.Severities) {
		ranks := make([]int64, len(crit.Severities))
		for i, s := range crit.Severities {
			ranks[i] = s.Rank()
		}
		add("incident.severity in arg_severities", "arg_severities", ranks)
	}
	if len(crit.Statuses) > 0 {
		add("incident.status in arg_statuses", "arg_statuses", stringsOf(crit.Statuses))
	}
	if crit.Tenant != "" {
		add("incident.tenant == arg_tenant", "arg_tenant", crit.Tenant)
	}
	if crit.Unassigned {
		add(`incident.assignee.id == ""`, "", nil)
	} else if crit.Assignee != "" {
		add("incident.assignee.id == arg_assignee", "arg_assignee", crit.Assignee)
	}
	for _, t := range []struct {
		term, arg string
		v         time.Time
	}{
		{"incident.created_at >= arg_created_after", "arg_created_after", crit.CreatedAfter},
		{"incident.created_at < arg_created_before", "arg_created_before", crit.CreatedBefore},
		{"incident.updated_at >= arg_updated_after", "arg_updated_after", crit.UpdatedAfter},
		{"incident.updated_at < arg_updated_before", "arg_updated_before", crit.UpdatedBefore},
	} {
		if !t.v.IsZero() {
			add(t.term, t.arg, t.v)
		}
	}
	if len(crit.IDs) > 0 {
		add("incident.id in arg_ids", "arg_ids", crit.IDs)
	}
	if len(crit.PolicyIDs) > 0 {
		add("incident.policy.id in arg_policy_ids", "arg_policy_ids", crit.PolicyIDs)
	}
	if len(crit.Tags) > 0 {
		add("incident.tags.exists(t, t in arg_tags)", "arg_tags", crit.Tags)
	}
	if len(crit.DeviceIDs) > 0 {
		add("incident.devices.exists(d, d.id in arg_device_ids)", "arg_device_ids", crit.DeviceIDs)
	}
	if len(crit.UserIDs) > 0 {
		add("incident.users.exists(u, u.id in arg_user_ids)", "arg_user_ids", crit.UserIDs)
	}
	if crit.TitleContains != "" {
		add("incident.title.icontains(arg_title)", "arg_title", crit.TitleContains)
	}
	if where != "" {
		// The newlines keep a trailing // comment in `where` from swallowing
		// the closing parenthesis; Compile has already proved that `where`
		// is a complete expression on its own.
		terms = append(terms, "(\n"+where+"\n)")
	}
	if len(terms) == 0 {
		terms = append(terms, "true")
	}
	return strings.Join(terms, " && "), args
}

// MatchCEL evaluates the whole query, structured criteria included, as one
// CEL program compiled from referenceSource. It is the slow reference that
// Match must agree with; the differential tests use it, the service does not.
func (p *Program) MatchCEL(ctx context.Context, inc *schema.Incident) (bool, error) {
	p.ref.once.Do(func() {
		env, err := p.lang.full()
		if err != nil {
			p.ref.err = err
			return
		}
		src, args := referenceSource(&p.Criteria, p.Where, p.Now)
		checked, iss := env.Compile(src)
		if iss.Err() != nil {
			p.ref.err = fmt.Errorf("compile reference filter: %w", iss.Err())
			return
		}
		p.ref.prg, p.ref.err = env.Program(checked, cel.CostLimit(maxRuntimeCost), cel.EvalOptions(cel.OptOptimize))
		p.ref.args = args
	})
	if p.ref.err != nil {
		return false, p.ref.err
	}
	out, _, err := p.ref.prg.ContextEval(ctx, &activation{inc: toCEL(inc), args: p.ref.args})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

// ReferenceFields lists the incident fields the reference program reads,
// sorted, for the differential tests to compare with Fields.
func (p *Program) ReferenceFields() ([]string, error) {
	env, err := p.lang.full()
	if err != nil {
		return nil, err
	}
	src, _ := referenceSource(&p.Criteria, p.Where, p.Now)
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	return slices.Sorted(maps.Keys(referencedFields(checked.NativeRep()))), nil
}

// checkWhere compiles the `where` expression alone so that its errors point
// into the text the model wrote, and enforces the language's limits.
func (l *Language) checkWhere(where string) (*cel.Ast, error) {
	if n := len([]rune(where)); n > MaxWhereLen {
		return nil, schema.ArgError("where", "expression is %d characters long, the limit is %d; move conditions into the structured arguments", n, MaxWhereLen)
	}
	checked, iss := l.env.Compile(where)
	if iss.Err() != nil {
		return nil, &schema.Error{Code: schema.CodeInvalidArgument, Arg: "where", Msg: l.explainCELError(iss.Err().Error())}
	}
	if checked.OutputType() != cel.BoolType {
		return nil, schema.ArgError("where", "the expression yields %s, it must yield a bool (true keeps the incident)", checked.OutputType())
	}
	native := checked.NativeRep()
	if n := countNodes(native.Expr()); n > maxNodes {
		return nil, schema.ArgError("where", "expression has %d nodes, the limit is %d; simplify it", n, maxNodes)
	}
	if err := l.checkEnumLiterals(native); err != nil {
		return nil, err
	}
	if err := checkConstantRegexes(native); err != nil {
		return nil, err
	}
	est, err := l.env.EstimateCost(checked, sizeEstimator{})
	if err != nil {
		return nil, schema.ArgError("where", "cannot estimate the cost of the expression: %v", err)
	}
	if est.Max > maxEstimatedCost {
		return nil, schema.ArgError("where", "expression is too costly (estimated %d, limit %d): avoid nested comprehensions over lists", est.Max, maxEstimatedCost)
	}
	return checked, nil
}

// checkConstantRegexes requires the pattern of every matches() to be a
// string literal, so it is compiled once with the program (and a bad one is
// refused here) rather than built and compiled again for every record.
func checkConstantRegexes(a *ast.AST) error {
	var bad error
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if bad != nil || e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "matches" {
			return
		}
		args := e.AsCall().Args()
		if len(args) == 0 {
			return
		}
		if pat := args[len(args)-1]; pat.Kind() != ast.LiteralKind {
			bad = schema.ArgError("where", "the pattern of matches() must be a string literal, like incident.title.matches(\"^(?i)ransom\"); a pattern built from fields or arguments is not supported")
		}
	}))
	return bad
}

func (l *Language) explainCELError(msg string) string {
	msg = strings.ReplaceAll(msg, "ERROR: <input>:", "at ")
	switch {
	case strings.Contains(msg, "undefined field"):
		msg += "\nvalid fields of incident: " + strings.Join(Fields, ", ")
	case strings.Contains(msg, "undeclared reference"):
		msg += "\nthe expression may use `incident.<field>`, `now` (the request time), and the constants " +
			strings.Join(slices.Sorted(maps.Keys(l.constants)), ", ") +
			"; valid fields of incident: " + strings.Join(Fields, ", ")
	case strings.Contains(msg, "no matching overload") && (strings.Contains(msg, "int, string") || strings.Contains(msg, "string, int")):
		msg += "\nincident.severity is ordered: compare it with INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL, e.g. incident.severity >= HIGH"
	}
	return msg
}

func countNodes(e ast.Expr) int {
	n := 0
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(ast.Expr) { n++ }))
	return n
}

// checkEnumLiterals rejects comparisons of enum fields with values outside
// their set: `incident.status == "opne"` would otherwise silently match
// nothing.
func (l *Language) checkEnumLiterals(a *ast.AST) error {
	var bad error
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if bad != nil || e.Kind() != ast.CallKind {
			return
		}
		call := e.AsCall()
		switch call.FunctionName() {
		case "_==_", "_!=_", "@in":
		default:
			return
		}
		args := call.Args()
		field := incidentField(args[0])
		if field == "" {
			field = incidentField(args[1])
		}
		allowed, ok := l.enums[field]
		if !ok {
			return
		}
		for _, arg := range args {
			for _, lit := range stringLiterals(arg) {
				if !slices.Contains(allowed, lit) {
					bad = schema.ArgError("where", "incident.%s is never %q; its values are %s", field, lit, schema.QuoteList(allowed))
				}
			}
		}
	}))
	return bad
}

func incidentField(e ast.Expr) string {
	if e.Kind() != ast.SelectKind {
		return ""
	}
	sel := e.AsSelect()
	if op := sel.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == varIncident {
		return sel.FieldName()
	}
	return ""
}

func stringLiterals(e ast.Expr) []string {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			return []string{string(s)}
		}
	case ast.ListKind:
		var out []string
		for _, el := range e.AsList().Elements() {
			out = append(out, stringLiterals(el)...)
		}
		return out
	}
	return nil
}

func referencedFields(a *ast.AST) map[string]bool {
	fields := map[string]bool{}
	selects, idents := 0, 0
	ast.PreOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if f := incidentField(e); f != "" {
			fields[f] = true
			selects++
		}
		if e.Kind() == ast.IdentKind && e.AsIdent() == varIncident {
			idents++
		}
	}))
	// A bare `incident` that is not the operand of a field selection (passed
	// whole to a function, say) reads every field.
	if idents > selects {
		fields["*"] = true
	}
	return fields
}

// Uses reports whether the program reads the named incident field. Drivers
// whose lists omit a field use it to decide whether records need a full read.
func (p *Program) Uses(field string) bool { return p.fields[field] || p.fields["*"] }

// Fields lists the incident fields the program reads, sorted; "*" means all.
func (p *Program) Fields() []string { return slices.Sorted(maps.Keys(p.fields)) }

// Match evaluates the program on one incident: the structured criteria in
// Go (no allocation), then `where` if they hold. It fails when `where` fails
// at runtime (the error names the incident and the place in the
// expression), runs out of its cost budget, or ctx ends; never for a plain
// mismatch.
func (p *Program) Match(ctx context.Context, inc *schema.Incident) (bool, error) {
	if !p.check.match(inc) {
		return false, nil
	}
	if p.where == nil {
		return true, nil
	}
	out, _, err := p.where.prg.ContextEval(ctx, &activation{inc: toCEL(inc), args: p.now.args})
	if err != nil {
		return false, p.evalError(ctx, inc, err)
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

func (p *Program) evalError(ctx context.Context, inc *schema.Incident, err error) error {
	switch {
	case ctx.Err() != nil:
		return &schema.Error{Code: schema.CodeDeadlineExceeded, Msg: "the call ended while `where` was being evaluated", Err: ctx.Err()}
	case strings.Contains(err.Error(), "cost limit"):
		return schema.ArgError("where", "evaluation exceeded its budget on %s; simplify the expression", inc.ID)
	}
	at := ""
	if ce, ok := err.(*types.Err); ok && ce.NodeID() != 0 {
		at = " " + p.where.position(p.Where, ce.NodeID())
	}
	return schema.ArgError("where", "evaluation failed on incident %s%s: %v; guard the expression (e.g. `x != 0 && y / x > 2`, `has(...)`) so that it cannot fail", inc.ID, at, err)
}

// position describes where node id is in the source text: line and column,
// and the text around it.
func (w *whereProgram) position(src string, id int64) string {
	info := w.ast.NativeRep().SourceInfo()
	loc := info.GetStartLocation(id)
	if loc.Line() < 1 {
		return ""
	}
	r, ok := info.GetOffsetRange(id)
	runes := []rune(src)
	excerpt := ""
	if ok && int(r.Start) < len(runes) {
		from, to := max(0, int(r.Start)-20), min(len(runes), int(r.Start)+20)
		excerpt = fmt.Sprintf(" (near %q)", string(runes[from:to]))
	}
	return fmt.Sprintf("at line %d, column %d%s", loc.Line(), loc.Column()+1, excerpt)
}

// activation resolves `incident` to one record and every other name to the
// program's arguments, so evaluating a record does not copy the arguments.
type activation struct {
	inc  *celIncident
	args map[string]any
}

func (a *activation) ResolveName(name string) (any, bool) {
	if name == varIncident {
		return a.inc, true
	}
	v, ok := a.args[name]
	return v, ok
}

func (a *activation) Parent() interpreter.Activation { return nil }

func toCEL(inc *schema.Incident) *celIncident {
	c := &celIncident{
		ID: inc.ID, Instance: inc.Instance, Vendor: inc.Vendor, Tenant: inc.Tenant, Number: inc.Number,
		Title: inc.Title, Description: inc.Description, Severity: inc.Severity.Rank(),
		VendorSeverity: inc.VendorSeverity, Status: string(inc.Status), VendorStatus: inc.VendorStatus,
		Resolution: string(inc.Resolution), Priority: inc.Priority,
		CreatedAt: inc.CreatedAt, UpdatedAt: inc.UpdatedAt, StatusChangedAt: inc.StatusChangedAt,
		Tags: inc.Tags, DetectionIDs: inc.DetectionIDs, AlertIDs: inc.AlertIDs,
		Devices: refs(inc.Devices), Users: refs(inc.Users),
	}
	if inc.Assignee != nil {
		c.Assignee = celRef(*inc.Assignee)
	}
	if inc.Policy != nil {
		c.Policy = celRef(*inc.Policy)
	}
	if inc.Counts != nil {
		val := func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		}
		c.Counts = celCounts{val(inc.Counts.Devices), val(inc.Counts.Detections), val(inc.Counts.Alerts), val(inc.Counts.Processes), val(inc.Counts.Executables)}
	}
	if inc.Mitre != nil {
		c.Mitre = celMitre{Tactics: inc.Mitre.Tactics, Techniques: inc.Mitre.Techniques}
	}
	return c
}

func refs(rs []schema.Ref) []celRef {
	if len(rs) == 0 {
		return nil
	}
	out := make([]celRef, len(rs))
	for i, r := range rs {
		out[i] = celRef(r)
	}
	return out
}

// sizeEstimator bounds list and string sizes for the static cost estimate;
// without it every list is assumed unbounded and any comprehension fails.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	switch n.Type().Kind() {
	case types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: assumedListSize}
	case types.StringKind:
		return &cost.SizeEstimate{Min: 0, Max: assumedStringBytes}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

func stringsOf[T ~string](vals []T) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return out
}
