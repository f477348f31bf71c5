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

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/caller"
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
	// AllowHTTP accepts an http:// issuer or JWKS URL off loopback (keys
	// fetched in the clear can be replaced on the way).
	AllowHTTP bool
	// RefetchInterval is the least time between two key-set downloads
	// for an unknown key id (default 30 s): a burst of forged tokens with
	// random kids costs at most one fetch per interval.
	RefetchInterval time.Duration
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
	jwksURL string
	lastTry time.Time // of discovery

	keyMu     sync.Mutex
	keys      []jose.JSONWebKey
	fetched   bool
	lastFetch time.Time
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
	for name, v := range map[string]string{"issuer": cfg.Issuer, "JWKS URL": cfg.JWKSURL} {
		if err := CheckSecureURL(v, cfg.AllowHTTP); v != "" && err != nil {
			return nil, fmt.Errorf("oauth %s: %w", name, err)
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
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = 30 * time.Second
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
	Scope    string   `json:"scope"`
	Scp      []string `json:"scp"`
	ClientID string   `json:"client_id"`
	Groups   []string `json:"groups"`
}

// Authenticate verifies the signature, issuer, audience, expiry (with the
// clock skew) and scopes of raw.
func (o *OAuth) Authenticate(ctx context.Context, raw string) (caller.Identity, error) {
	jws, err := jose.ParseSignedCompact(raw, signingAlgs)
	if err != nil {
		return caller.Identity{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return caller.Identity{}, fmt.Errorf("%w: want one signature", errInvalidToken)
	}
	payload, err := o.verify(ctx, jws)
	if err != nil {
		return caller.Identity{}, err
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
	have := append(strings.Fields(c.Scope), c.Scp...)
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
	return caller.Identity{Name: name, Method: caller.MethodOAuth, Issuer: c.Issuer, Groups: c.Groups, Scopes: have}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// verify checks the signature with the issuer's key of the token's kid.
// An unknown kid refetches the key set (key rotation), but at most once per
// RefetchInterval whatever the tokens say: forged kids cannot turn this
// server into an amplifier against the issuer.
func (o *OAuth) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	kid := jws.Signatures[0].Header.KeyID
	keys, err := o.keysFor(ctx, kid)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: no key of the issuer verifies the signature (kid %q)", errInvalidToken, kid)
}

// keysFor returns the cached keys matching kid (all keys for an empty
// kid), fetching the key set first when it was never fetched or, at most
// once per interval, when kid is unknown.
func (o *OAuth) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	o.keyMu.Lock()
	defer o.keyMu.Unlock()
	match := func() []jose.JSONWebKey {
		var out []jose.JSONWebKey
		for _, k := range o.keys {
			if kid == "" || k.KeyID == kid {
				out = append(out, k)
			}
		}
		return out
	}
	if found := match(); len(found) > 0 {
		return found, nil
	}
	now := o.cfg.Now()
	if !o.fetched && !o.lastFetch.IsZero() && now.Sub(o.lastFetch) < 10*time.Second {
		return nil, fmt.Errorf("%w: the last key download failed; retrying shortly", errIssuerUnavailable)
	}
	if o.fetched && now.Sub(o.lastFetch) < o.cfg.RefetchInterval {
		return nil, fmt.Errorf("%w: unknown key id %q", errInvalidToken, kid)
	}
	hadKeys := o.fetched
	o.fetched, o.lastFetch = true, now
	keys, err := o.fetchKeys(ctx)
	if err != nil {
		if hadKeys {
			return nil, fmt.Errorf("%w: unknown key id %q (refetch failed: %w)", errInvalidToken, kid, err)
		}
		o.fetched = false
		return nil, err
	}
	o.keys = keys
	if found := match(); len(found) > 0 {
		return found, nil
	}
	return nil, fmt.Errorf("%w: unknown key id %q", errInvalidToken, kid)
}

// fetchKeys downloads the issuer's signing keys, discovering jwks_uri first
// when it was not configured. A failed discovery is retried at most every
// 10 s so a down issuer does not get a request per client call.
func (o *OAuth) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	jwksURL, err := o.jwks(ctx)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := o.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, fmt.Errorf("%w: keys: %w", errIssuerUnavailable, err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Use == "" || k.Use == "sig" {
			if k.IsPublic() {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

func (o *OAuth) jwks(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.jwksURL != "" {
		return o.jwksURL, nil
	}
	if o.cfg.JWKSURL != "" {
		o.jwksURL = o.cfg.JWKSURL
		return o.jwksURL, nil
	}
	now := o.cfg.Now()
	if !o.lastTry.IsZero() && now.Sub(o.lastTry) < 10*time.Second {
		return "", errIssuerUnavailable
	}
	o.lastTry = now
	u, err := o.discover(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errIssuerUnavailable, err)
	}
	o.jwksURL = u
	return u, nil
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

// CheckSecureURL refuses an http:// URL whose host is not loopback, unless
// allowHTTP: what travels over it (signing keys, approvers' sign-ins) could
// be read or replaced on the way.
func CheckSecureURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q: want an absolute https URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("%q: want an https URL", raw)
	case isLoopbackHost(u.Hostname()) || allowHTTP:
		return nil
	}
	return fmt.Errorf("%q is plain http off loopback: use https (or, only on a network you trust, allow it with --allow-insecure-http)", raw)
}
