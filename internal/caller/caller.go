// Package caller carries the authenticated caller of a request through its
// context, from the HTTP transport that authenticates it to the tools that
// write it into the audit log and the logs.
package caller

import "context"

// Identity is who made a request: the name of a static bearer token, or the
// subject of an OAuth access token.
type Identity struct {
	// Name is what the audit log and the logs show: the token's name from
	// the tokens file, or the JWT "sub" (falling back to "client_id").
	Name string
	// Method is how the caller proved it: "token" or "oauth".
	Method string
}

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the caller in ctx; ok is false for unauthenticated requests
// (stdio, or HTTP without an authentication mode).
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(key{}).(Identity)
	return id, ok
}

// Name returns the caller's name in ctx, or "" when there is none.
func Name(ctx context.Context) string {
	id, _ := From(ctx)
	return id.Name
}
