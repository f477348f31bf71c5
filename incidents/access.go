package incidents

import (
	"context"
	"fmt"
	"strings"

	"github.com/incident-mcp/incident-mcp/access"
	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/schema"
)

// WithAccess enforces p: each call sees only the instances its caller may
// read, and writes only the kinds of change its caller may make. A nil p
// (the default) lets every caller do everything.
func WithAccess(p *access.Policy) Option { return func(s *Service) { s.access = p } }

// Access is the policy the service enforces; nil when everything is allowed.
func (s *Service) Access() *access.Policy { return s.access }

// grant is what the caller in ctx may do.
func (s *Service) grant(ctx context.Context) access.Grant { return s.access.ForContext(ctx) }

// visible are the instances the caller in ctx may read, sorted. To a
// caller, an instance it may not read does not exist: every message that
// lists configured instances lists these.
func (s *Service) visible(ctx context.Context) []string {
	return s.grant(ctx).Readable(s.names)
}

// Visible lists the instances the caller in ctx may read, sorted.
func (s *Service) Visible(ctx context.Context) []string { return s.visible(ctx) }

// InstancesFor lists the instances the caller in ctx may read.
func (s *Service) InstancesFor(ctx context.Context) []InstanceInfo {
	g := s.grant(ctx)
	all := s.Instances()
	out := all[:0]
	for _, in := range all {
		if g.Read(in.Name) {
			out = append(out, in)
		}
	}
	return out
}

// Rights are the caller's rights on one instance.
func (s *Service) Rights(ctx context.Context, instance string) access.Rights {
	return s.grant(ctx).On(instance)
}

// noInstance is the answer for an instance that is not configured or that
// the caller may not read: the two are indistinguishable by design.
func noInstance(arg, name string, visible []string, all bool) error {
	list := strings.Join(visible, ", ")
	if all {
		list += ` (or "*" for all)`
	}
	if arg == "id" {
		return schema.ArgError("id", "the id names instance %q, which is not configured; configured instances: %s", name, list)
	}
	return schema.ArgError(arg, "no instance %q; configured instances: %s", name, list)
}

// noVisible answers a caller that may read no instance at all.
func noVisible() error {
	return schema.Errorf(schema.CodeNotFound, "no instance is configured for this caller; ask the server's operator for access")
}

// deny records and logs a refused access: op is the operation ("list",
// "get", "preview", …), id the incident when there is one. A failure to
// audit is logged: the refusal stands either way.
func (s *Service) deny(ctx context.Context, op, instance, id, why string) {
	who := access.Principal(ctx)
	s.log.WarnContext(ctx, "access denied", "principal", who.Key(), "op", op, "instance", instance, "id", id, "why", why)
	if s.audit == nil {
		return
	}
	err := s.audit.Append(audit.Record{
		Time: s.now().UTC(), Instance: instance, ID: id, Outcome: audit.Denied, Error: why,
		Caller: who.Name, Principal: who.Key(), Operation: op,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "denied access not audited", "principal", who.Key(), "op", op, "instance", instance, "err", err)
	}
}

// Denied records and logs a refusal decided outside the service: a call
// to a tool the caller's access hides.
func (s *Service) Denied(ctx context.Context, op, instance, why string) {
	s.deny(ctx, op, instance, "", why)
}

// MayUpdate checks, before anything else of an update is looked at, that
// the caller may see id's instance and make every kind of change in p
// there: a forbidden instance answers as an unknown one whatever else the
// call carries (a confirmation, an approval id, an answer).
func (s *Service) MayUpdate(ctx context.Context, id string, p schema.Patch) error {
	in, _, err := s.resolve(ctx, "update", id)
	if err != nil {
		return err
	}
	return s.mayWrite(ctx, "update", in, id, p)
}

// mayRead refuses an instance the caller may not read, exactly as an
// unknown one, and records the refusal.
func (s *Service) mayRead(ctx context.Context, op, arg, name, id string, all bool) error {
	g := s.grant(ctx)
	if g.Read(name) {
		return nil
	}
	s.deny(ctx, op, name, id, "no read right")
	return noInstance(arg, name, g.Readable(s.names), all)
}

// mayWrite refuses a change whose kinds the caller may not make on in.
func (s *Service) mayWrite(ctx context.Context, op string, in *instance, id string, p schema.Patch) error {
	g := s.grant(ctx)
	denied := g.Denied(in.Name, access.KindsOf(p))
	if len(denied) == 0 {
		return nil
	}
	names := make([]string, len(denied))
	for i, k := range denied {
		names[i] = string(k)
	}
	s.deny(ctx, op, in.Name, id, "no write right for "+strings.Join(names, ", "))
	allowed := "no change at all"
	if w := g.On(in.Name).Write; len(w) > 0 {
		allowed = joinFields(w)
	}
	return schema.Errorf(schema.CodePermissionDenied, "your access on %s does not include %s (it allows: %s); nothing was written. Ask the server's operator for the right %s",
		in.Name, strings.Join(names, ", "), allowed, fmt.Sprintf("write:%s", names[0]))
}
