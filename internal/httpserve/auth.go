package httpserve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/incident-mcp/incident-mcp/caller"
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
// callerLabel is the method ("token", "oauth"), the token's name when the
// operator turned caller labels on (Config.CallerLabels), or "" when refused.
type AuthObserver func(callerLabel, result string)

// requireAuth answers 401 (with a challenge) unless the request carries a
// valid bearer token, and puts the caller in the request context.
func requireAuth(a Authenticator, log *slog.Logger, observe func(caller.Identity, string), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			observe(caller.Identity{}, "missing")
			w.Header().Set("WWW-Authenticate", a.Challenge(""))
			http.Error(w, "authentication required: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		id, err := a.Authenticate(r.Context(), tok)
		switch {
		case err == nil:
		case errors.Is(err, errInsufficientScope):
			observe(caller.Identity{}, "insufficient_scope")
			w.Header().Set("WWW-Authenticate", a.Challenge("insufficient_scope"))
			http.Error(w, "the token lacks a required scope", http.StatusForbidden)
			return
		case errors.Is(err, errIssuerUnavailable):
			observe(caller.Identity{}, "issuer_unavailable")
			log.Error("cannot validate access tokens: the authorization server's keys are unreachable", "err", err)
			http.Error(w, "token validation is unavailable; try again shortly", http.StatusServiceUnavailable)
			return
		default:
			observe(caller.Identity{}, "invalid")
			log.Info("bearer token refused", "remote", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", a.Challenge("invalid_token"))
			http.Error(w, "invalid or expired token", http.StatusUnauthorized)
			return
		}
		observe(id, "ok")
		next.ServeHTTP(w, r.WithContext(caller.With(r.Context(), id)))
	})
}

// observeAuth labels the metric with the authentication method, or with the
// caller's name when the operator asked for names (tokens only: OAuth
// subjects are unbounded).
func observeAuth(observe AuthObserver, names bool) func(caller.Identity, string) {
	return func(id caller.Identity, result string) {
		label := id.Method
		if names && id.Method == caller.MethodToken {
			label = id.Name
		}
		observe(label, result)
	}
}

// Anonymous is the principal of an HTTP server without authentication,
// which serves loopback only (or sits behind a proxy that authenticates).
var Anonymous = caller.Identity{Name: "anonymous", Method: caller.MethodNone}

// anonymous puts the Anonymous principal in the request context.
func anonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(caller.With(r.Context(), Anonymous)))
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
