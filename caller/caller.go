// Package caller carries the principal of a request through its context,
// from the transport that authenticates it to the service that decides
// what it may do, and to the audit log and the logs that name it.
//
// Every request has a principal: the name of a static bearer token, an
// OAuth issuer and subject with their groups and scopes, or the local user
// on stdio. Sessions, confirmations and approvals are bound to Key(), which
// two different principals never share.
package caller

import (
	"context"
	"slices"
	"strings"
)

// Methods of authentication.
const (
	MethodToken = "token" // a static bearer token from the tokens file
	MethodOAuth = "oauth" // an OAuth 2.1 access token (JWT)
	MethodLocal = "local" // the local user of a stdio server
	MethodNone  = "none"  // HTTP without an authentication mode (loopback only)
	// MethodPassword is an approver signed in on the approval page with
	// the approvers (passwords) file.
	MethodPassword = "password"
)

// Identity is who made a request.
type Identity struct {
	// Name is what the audit log and the logs show: the token's name from
	// the tokens file, the JWT "sub" (falling back to "client_id"), or the
	// local user's name.
	Name string
	// Method is how the caller proved it: one of the Method constants.
	Method string
	// Issuer is the OAuth issuer ("iss"); empty for other methods.
	Issuer string
	// Groups and Scopes come from the OAuth token ("groups", "scope"/"scp");
	// static tokens may name groups in the tokens file.
	Groups []string
	Scopes []string
}

// Key identifies the principal uniquely across methods: two callers with
// the same Name but different methods or issuers never share a key.
func (id Identity) Key() string {
	switch id.Method {
	case MethodOAuth:
		return "oauth:" + id.Issuer + "#" + id.Name
	case "":
		return "none:"
	}
	return id.Method + ":" + id.Name
}

// Display is a short human form: the name, with the method where it adds
// something ("alice (oauth)").
func (id Identity) Display() string {
	if id.Name == "" {
		return "(anonymous)"
	}
	return id.Name
}

// InGroup reports whether the principal carries group g.
func (id Identity) InGroup(g string) bool { return slices.Contains(id.Groups, g) }

// HasScope reports whether the principal carries scope s.
func (id Identity) HasScope(s string) bool { return slices.Contains(id.Scopes, s) }

// Matches reports whether a selector from the operator's config names this
// principal: "name", "group:NAME", "scope:NAME", or "*" for anyone.
func (id Identity) Matches(selector string) bool {
	switch {
	case selector == "*":
		return true
	case strings.HasPrefix(selector, "group:"):
		return id.InGroup(strings.TrimPrefix(selector, "group:"))
	case strings.HasPrefix(selector, "scope:"):
		return id.HasScope(strings.TrimPrefix(selector, "scope:"))
	}
	return selector != "" && selector == id.Name
}

// Local is the principal of a stdio server: the user who started it.
func Local(user string) Identity {
	if user == "" {
		user = "local"
	}
	return Identity{Name: user, Method: MethodLocal}
}

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the caller in ctx; ok is false when no transport set one.
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(key{}).(Identity)
	return id, ok
}

// Name returns the caller's name in ctx, or "" when there is none.
func Name(ctx context.Context) string {
	id, _ := From(ctx)
	return id.Name
}
