package httpserve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/incident-mcp/incident-mcp/internal/caller"
)

// Authenticator checks a bearer token.
type Authenticator interface {
	// Authenticate returns the caller a token belongs to, or an error
	// wrapping errInvalidToken, errInsufficientScope or errIssuerUnavailable.
	Authenticate(ctx context.Context, token string) (caller.Identity, error)
	// Challenge is the WWW-Authenticate header value of a 401 or 403 with
	// the RFC 6750 error code (empty when no token was sent).
	Challenge(errCode string) string
}

var (
	errInvalidToken      = errors.New("invalid token")
	errInsufficientScope = errors.New("insufficient scope")
	errIssuerUnavailable = errors.New("authorization server unavailable")
)

// AuthObserver is told the outcome of every authentication, for metrics.
// caller is the token name, "oauth" for JWT callers (whose subjects are
// unbounded), or "" when refused.
type AuthObserver func(callerLabel, result string)

// requireAuth answers 401 (with a challenge) unless the request carries a
// valid bearer token, and puts the caller in the request context.
func requireAuth(a Authenticator, log *slog.Logger, observe AuthObserver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			observe("", "missing")
			w.Header().Set("WWW-Authenticate", a.Challenge(""))
			http.Error(w, "authentication required: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		id, err := a.Authenticate(r.Context(), tok)
		switch {
		case err == nil:
		case errors.Is(err, errInsufficientScope):
			observe("", "insufficient_scope")
			w.Header().Set("WWW-Authenticate", a.Challenge("insufficient_scope"))
			http.Error(w, "the token lacks a required scope", http.StatusForbidden)
			return
		case errors.Is(err, errIssuerUnavailable):
			observe("", "issuer_unavailable")
			log.Error("cannot validate access tokens: the authorization server's keys are unreachable", "err", err)
			http.Error(w, "token validation is unavailable; try again shortly", http.StatusServiceUnavailable)
			return
		default:
			observe("", "invalid")
			log.Info("bearer token refused", "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", a.Challenge("invalid_token"))
			http.Error(w, "invalid or expired token", http.StatusUnauthorized)
			return
		}
		label := id.Name
		if id.Method == "oauth" {
			label = "oauth"
		}
		observe(label, "ok")
		next.ServeHTTP(w, r.WithContext(caller.With(r.Context(), id)))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
