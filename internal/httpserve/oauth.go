package httpserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/internal/caller"
)

// OAuthConfig configures the OAuth 2.1 resource-server mode: access tokens
// are JWTs signed by an external authorization server.
type OAuthConfig struct {
	// Issuer is the authorization server's issuer identifier; tokens must
	// carry it as "iss".
	Issuer string
	// Resource is this server's canonical URI (e.g. https://mcp.example.com/mcp).
	// Tokens must name it in "aud" (RFC 8707), so a token minted for another
	// service is refused here.
	Resource string
	// JWKSURL is where the signing keys are; empty discovers jwks_uri from
	// the issuer's RFC 8414 or OpenID metadata on first use.
	JWKSURL string
	// ClockSkew is the leeway on exp, nbf and iat (default 1 minute).
	ClockSkew time.Duration
	// Scopes are published in the metadata and, when set, every token must
	// carry each of them in "scope".
	Scopes []string
	// HTTPClient fetches metadata and keys (default: 10 s timeout).
	HTTPClient *http.Client
	// Now replaces the clock (tests).
	Now func() time.Time
}

// signingAlgs are the asymmetric algorithms accepted; "none" and HMAC
// (whose key would be public here) are refused before any key is looked up.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// OAuth validates JWT access tokens from one issuer.
type OAuth struct {
	cfg OAuthConfig

	mu      sync.Mutex
	keys    *oidc.RemoteKeySet
	lastTry time.Time
}

// NewOAuth checks cfg and returns the validator. Keys are fetched on first
// use and cached; an unknown key id triggers one re-fetch (key rotation).
func NewOAuth(cfg OAuthConfig) (*OAuth, error) {
	for name, v := range map[string]string{"issuer": cfg.Issuer, "resource": cfg.Resource} {
		u, err := url.Parse(v)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("oauth %s %q: want an absolute https URL", name, v)
		}
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &OAuth{cfg: cfg}, nil
}

// Metadata is this resource's RFC 9728 protected-resource metadata.
func (o *OAuth) Metadata() server.ProtectedResourceMetadataConfig {
	return server.ProtectedResourceMetadataConfig{
		Resource:               o.cfg.Resource,
		AuthorizationServers:   []string{o.cfg.Issuer},
		ScopesSupported:        o.cfg.Scopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "incident-mcp",
	}
}

// MetadataURL is where the metadata is served, per RFC 9728 section 3.1.
func (o *OAuth) MetadataURL() string {
	u, _ := url.Parse(o.cfg.Resource)
	return u.Scheme + "://" + u.Host + server.ProtectedResourceMetadataPath(o.cfg.Resource)
}

// Challenge is the WWW-Authenticate value of a 401: it points the client at
// the metadata, which names the authorization server to get a token from.
func (o *OAuth) Challenge(errCode string) string {
	return bearerChallenge(errCode, o.MetadataURL())
}

type accessClaims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// Authenticate verifies the signature, issuer, audience, expiry (with the
// clock skew) and scopes of raw.
func (o *OAuth) Authenticate(ctx context.Context, raw string) (caller.Identity, error) {
	if _, err := jose.ParseSignedCompact(raw, signingAlgs); err != nil {
		return caller.Identity{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	keys, err := o.keySet(ctx)
	if err != nil {
		return caller.Identity{}, err
	}
	payload, err := keys.VerifySignature(ctx, raw)
	if err != nil {
		return caller.Identity{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return caller.Identity{}, fmt.Errorf("%w: claims: %w", errInvalidToken, err)
	}
	if c.Expiry == nil {
		return caller.Identity{}, fmt.Errorf("%w: no exp", errInvalidToken)
	}
	exp := jwt.Expected{Issuer: o.cfg.Issuer, AnyAudience: jwt.Audience{o.cfg.Resource}, Time: o.cfg.Now()}
	if err := c.ValidateWithLeeway(exp, o.cfg.ClockSkew); err != nil {
		return caller.Identity{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	have := strings.Fields(c.Scope)
	for _, s := range o.cfg.Scopes {
		if !contains(have, s) {
			return caller.Identity{}, fmt.Errorf("%w: scope %q missing", errInsufficientScope, s)
		}
	}
	name := c.Subject
	if name == "" {
		name = c.ClientID
	}
	if name == "" {
		return caller.Identity{}, fmt.Errorf("%w: neither sub nor client_id", errInvalidToken)
	}
	return caller.Identity{Name: name, Method: caller.MethodOAuth}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// keySet returns the cached key set, discovering jwks_uri first when it
// was not configured. A failed discovery is retried at most every 10 s so
// a down issuer does not get a request per client call.
func (o *OAuth) keySet(ctx context.Context) (*oidc.RemoteKeySet, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys != nil {
		return o.keys, nil
	}
	now := o.cfg.Now()
	if !o.lastTry.IsZero() && now.Sub(o.lastTry) < 10*time.Second {
		return nil, errIssuerUnavailable
	}
	o.lastTry = now
	jwksURL := o.cfg.JWKSURL
	if jwksURL == "" {
		var err error
		if jwksURL, err = o.discover(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", errIssuerUnavailable, err)
		}
	}
	o.keys = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), o.cfg.HTTPClient), jwksURL)
	return o.keys, nil
}

// discover reads jwks_uri from the issuer's RFC 8414 authorization-server
// metadata, then from its OpenID Connect discovery document.
func (o *OAuth) discover(ctx context.Context) (string, error) {
	iss := strings.TrimRight(o.cfg.Issuer, "/")
	u, _ := url.Parse(iss)
	candidates := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + u.Path,
		iss + "/.well-known/openid-configuration",
	}
	var errs []error
	for _, c := range candidates {
		var m struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := o.getJSON(ctx, c, &m); err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.TrimRight(m.Issuer, "/") != iss || m.JWKSURI == "" {
			errs = append(errs, fmt.Errorf("%s: issuer %q or jwks_uri missing", c, m.Issuer))
			continue
		}
		return m.JWKSURI, nil
	}
	return "", fmt.Errorf("discover jwks_uri: %w", errors.Join(errs...))
}

func (o *OAuth) getJSON(ctx context.Context, u string, v any) error {
	// u is derived from the operator's --oauth-issuer, not from a request.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) //nolint:gosec // G704: operator-configured URL
	if err != nil {
		return err
	}
	resp, err := o.cfg.HTTPClient.Do(req) //nolint:gosec // G704: operator-configured URL
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
