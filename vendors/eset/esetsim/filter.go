package esetsim

import (
	"container/list"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

const (
	// maxFilterChars is the vendor's documented limit on the filter string.
	maxFilterChars = 200
	// filterCostLimit bounds one record's evaluation. A 200-character filter
	// can still nest comprehensions over list literals; without a bound one
	// request over 50k records could pin a CPU for seconds. Realistic filters
	// cost well under 100.
	filterCostLimit = 10_000
	// programCacheSize bounds the compiled-program cache.
	programCacheSize = 256

	incidentTypeName = "eset.v2.Incident"
	statusTypeName   = "eset.v2.IncidentStatus"
	severityTypeName = "eset.v2.IncidentSeverityLevel"
)

// The enums are opaque CEL types, not strings: that is what makes the
// checker itself reject `status == "INCIDENT_STATUS_OPEN"` and `severity >= …`,
// as ESET does, while `==` and `in` against the bare identifiers type-check.
var (
	statusType   = types.NewOpaqueType(statusTypeName)
	severityType = types.NewOpaqueType(severityTypeName)
	incidentType = types.NewObjectType(incidentTypeName)
)

// enumValue is the runtime value of a status or severity.
type enumValue struct {
	typ  *types.Type
	name string
}

func (e enumValue) ConvertToNative(t reflect.Type) (any, error) {
	if t.Kind() == reflect.String {
		return e.name, nil
	}
	return nil, fmt.Errorf("type conversion error from %s to %v", e.typ.TypeName(), t)
}

func (e enumValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case e.typ:
		return e
	case types.TypeType:
		return e.typ
	}
	return types.NewErr("type conversion error from %s to %s", e.typ.TypeName(), t.TypeName())
}

func (e enumValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(enumValue)
	return types.Bool(ok && o.typ == e.typ && o.name == e.name)
}

func (e enumValue) Type() ref.Type { return e.typ }
func (e enumValue) Value() any     { return e.name }

var enumValues = func() map[string]enumValue {
	m := map[string]enumValue{}
	for _, s := range statuses {
		m[s] = enumValue{statusType, s}
	}
	for _, s := range severities {
		m[s] = enumValue{severityType, s}
	}
	return m
}()

// enumOf returns the CEL value of a stored enum string. Unknown strings
// (which the server never stores) become a value equal to nothing declared.
func enumOf(typ *types.Type, name string) enumValue {
	if v, ok := enumValues[name]; ok {
		return v
	}
	return enumValue{typ, name}
}

// field is one filterable attribute of an incident, reachable as
// `incident.<snake>`, `incident.<camel>`, `<snake>` and `<camel>`.
type field struct {
	snake, camel string
	typ          *types.Type
	get          func(*record) ref.Val
	// isSet follows proto3 presence, which the ESET API (a gRPC gateway)
	// inherits: an empty string or list is "not set".
	isSet func(*record) bool
}

func stringList(v []string) ref.Val {
	return types.NewStringList(types.DefaultTypeAdapter, v)
}

var fields = []field{
	{"uuid", "uuid", types.StringType,
		func(r *record) ref.Val { return types.String(r.inc.UUID) },
		func(r *record) bool { return r.inc.UUID != "" }},
	{"create_time", "createTime", types.TimestampType,
		func(r *record) ref.Val { return types.Timestamp{Time: r.inc.CreateTime} },
		func(r *record) bool { return !r.inc.CreateTime.IsZero() }},
	{"update_time", "updateTime", types.TimestampType,
		func(r *record) ref.Val { return types.Timestamp{Time: r.inc.UpdateTime} },
		func(r *record) bool { return !r.inc.UpdateTime.IsZero() }},
	{"display_name", "displayName", types.StringType,
		func(r *record) ref.Val { return types.String(r.inc.DisplayName) },
		func(r *record) bool { return r.inc.DisplayName != "" }},
	{"description", "description", types.StringType,
		func(r *record) ref.Val { return types.String(r.inc.Description) },
		func(r *record) bool { return r.inc.Description != "" }},
	{"assignee_uuid", "assigneeUuid", types.StringType,
		func(r *record) ref.Val { return types.String(r.inc.AssigneeUUID) },
		func(r *record) bool { return r.inc.AssigneeUUID != "" }},
	{"device_uuids", "deviceUuids", types.NewListType(types.StringType),
		func(r *record) ref.Val { return stringList(r.inc.DeviceUUIDs) },
		func(r *record) bool { return len(r.inc.DeviceUUIDs) > 0 }},
	{"tags", "tags", types.NewListType(types.StringType),
		func(r *record) ref.Val { return stringList(r.inc.Tags) },
		func(r *record) bool { return len(r.inc.Tags) > 0 }},
	{"severity", "severity", severityType,
		func(r *record) ref.Val { return enumOf(severityType, r.inc.Severity) },
		func(r *record) bool { return true }},
	{"status", "status", statusType,
		func(r *record) ref.Val { return enumOf(statusType, r.inc.Status) },
		func(r *record) bool { return true }},
}

var fieldByName = func() map[string]*field {
	m := map[string]*field{}
	for i := range fields {
		f := &fields[i]
		m[f.snake] = f
		m[f.camel] = f
	}
	return m
}()

var filterFieldNames = func() string {
	var names []string
	for _, f := range fields {
		names = append(names, f.snake)
	}
	return strings.Join(names, ", ")
}()

// incidentProvider adds the incident message type to CEL's standard registry
// so that the checker rejects unknown fields and the runtime reads fields
// straight from a *record.
type incidentProvider struct {
	*types.Registry
	fieldTypes map[string]*types.FieldType
	names      []string
}

func newIncidentProvider() (*incidentProvider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &incidentProvider{Registry: reg, fieldTypes: map[string]*types.FieldType{}}
	for name, f := range fieldByName {
		p.fieldTypes[name] = &types.FieldType{
			Type: f.typ,
			IsSet: func(obj any) bool {
				r, ok := obj.(*record)
				return ok && f.isSet(r)
			},
			GetFrom: func(obj any) (any, error) {
				r, ok := obj.(*record)
				if !ok {
					return nil, fmt.Errorf("no such field %q", name)
				}
				return f.get(r), nil
			},
		}
		p.names = append(p.names, name)
	}
	slices.Sort(p.names)
	return p, nil
}

func (p *incidentProvider) FindStructType(name string) (*types.Type, bool) {
	if name == incidentTypeName {
		return types.NewTypeTypeWithParam(incidentType), true
	}
	return p.Registry.FindStructType(name)
}

func (p *incidentProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == incidentTypeName {
		return p.names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *incidentProvider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if name == incidentTypeName {
		ft, ok := p.fieldTypes[fieldName]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, fieldName)
}

// NewValue refuses to build incidents inside a filter: ESET filters select
// records, they do not construct them.
func (p *incidentProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == incidentTypeName {
		return types.NewErr("cannot construct %s in a filter", name)
	}
	return p.Registry.NewValue(name, fields)
}

// activation exposes one record to a program; reused across records of one
// request so evaluation allocates nothing per record for the lookup itself.
type activation struct{ r *record }

func (a *activation) ResolveName(name string) (any, bool) {
	if name == "incident" {
		return a.r, true
	}
	if f, ok := fieldByName[name]; ok {
		return f.get(a.r), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// filterError is a filter the vendor would reject with 400.
type filterError struct{ msg, detail string }

func (e *filterError) Error() string { return e.msg }

// filterCompiler turns filter strings into programs, once per distinct string.
type filterCompiler struct {
	env *cel.Env

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key string
	prg cel.Program
	err error
}

func newFilterCompiler() (*filterCompiler, error) {
	p, err := newIncidentProvider()
	if err != nil {
		return nil, err
	}
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(p),
		cel.CustomTypeAdapter(p),
		cel.Variable("incident", incidentType),
	}
	for name, f := range fieldByName {
		opts = append(opts, cel.Variable(name, f.typ))
	}
	for name, v := range enumValues {
		opts = append(opts, cel.Constant(name, v.typ, v))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	return &filterCompiler{env: env, lru: list.New(), byKey: map[string]*list.Element{}}, nil
}

// compile returns the cached program for filter, compiling it on first use.
// Rejections are cached too: a client retrying a bad filter costs nothing.
func (c *filterCompiler) compile(filter string) (cel.Program, error) {
	c.mu.Lock()
	if el, ok := c.byKey[filter]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		return e.prg, e.err
	}
	c.mu.Unlock()

	prg, err := c.build(filter)

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[filter]; !ok {
		c.byKey[filter] = c.lru.PushFront(&cacheEntry{filter, prg, err})
		for c.lru.Len() > programCacheSize {
			old := c.lru.Remove(c.lru.Back()).(*cacheEntry)
			delete(c.byKey, old.key)
		}
	}
	return prg, err
}

func (c *filterCompiler) build(filter string) (cel.Program, error) {
	parsed, iss := c.env.Parse(filter)
	if iss.Err() != nil {
		return nil, &filterError{"invalid filter: syntax error", iss.Err().Error()}
	}
	if err := precheck(parsed.NativeRep()); err != nil {
		return nil, err
	}
	checked, iss := c.env.Check(parsed)
	if iss.Err() != nil {
		detail := iss.Err().Error()
		if strings.Contains(detail, "undefined field") || strings.Contains(detail, "undeclared reference") {
			return nil, &filterError{"invalid filter: unknown field or identifier",
				detail + "\nsupported fields (with or without the incident. prefix): " + filterFieldNames}
		}
		return nil, &filterError{"invalid filter", detail}
	}
	if err := restrictEnumOperators(checked.NativeRep()); err != nil {
		return nil, err
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, &filterError{"invalid filter: the expression must be a condition",
			fmt.Sprintf("the filter evaluates to %s, not bool", checked.OutputType())}
	}
	prg, err := c.env.Program(checked, cel.CostLimit(filterCostLimit))
	if err != nil {
		return nil, &filterError{"invalid filter", err.Error()}
	}
	return prg, nil
}

// isEnumField reports whether e names the status or severity field, with or
// without the incident. prefix.
func isEnumField(e ast.Expr) bool {
	var name string
	switch e.Kind() {
	case ast.IdentKind:
		name = e.AsIdent()
	case ast.SelectKind:
		name = e.AsSelect().FieldName()
	default:
		return false
	}
	return name == "status" || name == "severity"
}

func isStringLiteral(e ast.Expr) bool {
	if e.Kind() == ast.LiteralKind {
		_, ok := e.AsLiteral().(types.String)
		return ok
	}
	if e.Kind() == ast.ListKind {
		for _, el := range e.AsList().Elements() {
			if isStringLiteral(el) {
				return true
			}
		}
	}
	return false
}

var enumOperatorError = &filterError{
	"invalid filter: status and severity can be filtered only with == or in",
	"write e.g. incident.severity in [INCIDENT_SEVERITY_LEVEL_MEDIUM, INCIDENT_SEVERITY_LEVEL_HIGH] " +
		"instead of an ordering or != comparison",
}

// precheck runs before type-checking so that the two most common mistakes,
// a quoted enum and an ordered enum comparison, get a message that names the
// fix instead of a generic overload error.
func precheck(a *ast.AST) error {
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.CallKind)) {
		c := call.AsCall()
		args := c.Args()
		if len(args) != 2 || c.IsMemberFunction() {
			continue
		}
		lhsEnum, rhsEnum := isEnumField(args[0]), isEnumField(args[1])
		if !lhsEnum && !rhsEnum {
			continue
		}
		switch c.FunctionName() {
		case operators.Equals, operators.In:
		case operators.NotEquals, operators.Less, operators.LessEquals,
			operators.Greater, operators.GreaterEquals:
			return enumOperatorError
		default:
			continue
		}
		if (lhsEnum && isStringLiteral(args[1])) || (rhsEnum && isStringLiteral(args[0])) {
			return &filterError{
				"invalid filter: enum values must be unquoted identifiers",
				"write e.g. incident.status == INCIDENT_STATUS_OPEN or " +
					"incident.severity in [INCIDENT_SEVERITY_LEVEL_LOW, INCIDENT_SEVERITY_LEVEL_HIGH]",
			}
		}
	}
	return nil
}

func isEnumType(t *types.Type) bool {
	if t.Kind() == types.ListKind && len(t.Parameters()) == 1 {
		t = t.Parameters()[0]
	}
	return t.IsExactType(statusType) || t.IsExactType(severityType)
}

// restrictEnumOperators enforces the documented rule that status and
// severity are filtered with == or in only, on the checked AST, where types
// also catch what precheck cannot see by name (say, a ternary of enums).
func restrictEnumOperators(a *ast.AST) error {
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.KindMatcher(ast.CallKind)) {
		fn := call.AsCall().FunctionName()
		args := call.Children()
		var enumArg bool
		for _, arg := range args {
			if isEnumType(arg.Type()) {
				enumArg = true
			}
		}
		if !enumArg {
			continue
		}
		switch fn {
		case operators.Equals:
			continue
		case operators.In:
			// `status in [X, "Y"]` type-checks as list(dyn); only a list of
			// enum identifiers is what the vendor accepts.
			if len(args) == 2 && isEnumType(args[1].Type()) {
				continue
			}
		}
		return enumOperatorError
	}
	return nil
}

// errCostLimit marks an evaluation stopped by filterCostLimit.
var errCostLimit = errors.New("filter too expensive")

// match evaluates prg on r. An evaluation error (say, an index out of range)
// makes the record not match, which is how a server that filters in its
// database would behave; only the cost limit fails the request.
func match(prg cel.Program, act *activation, r *record) (bool, error) {
	act.r = r
	out, _, err := prg.Eval(act)
	if err != nil {
		if strings.Contains(err.Error(), "cost limit exceeded") {
			return false, errCostLimit
		}
		return false, nil
	}
	b, ok := out.(types.Bool)
	return ok && bool(b), nil
}
