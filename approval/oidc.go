package approval

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/incident-mcp/incident-mcp/caller"
)

// OIDCConfig lets approvers sign in with the organisation's identity
// provider (OpenID Connect authorization code flow with PKCE) instead of, or
// beside, the passwords file: the IdP's MFA and offboarding then apply.
type OIDCConfig struct {
	// Issuer is the IdP's issuer URL (discovery at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are this application's registration at
	// the IdP; the secret may be empty for a public client (PKCE only).
	ClientID     string
	ClientSecret string
	// AllowedGroups are the groups (ID token claim GroupsClaim) whose
	// members may approve; "*" admits every user of the issuer. Required.
	AllowedGroups []string
	// GroupsClaim names the claim listing the user's groups (default
	// "groups").
	GroupsClaim string
	// NameClaim names the claim the audit shows as the approver (default
	// "sub", the same name an OAuth access token of the same IdP yields on
	// the MCP side; "email" or "preferred_username" read better).
	NameClaim string
	// HTTPClient talks to the IdP (default: 10 s timeout).
	HTTPClient *http.Client
}

// Paths of the OIDC sign-in, beside the password form.
const (
	pathOIDCStart    = "/approval/oidc/start"
	pathOIDCCallback = "/approval/oidc/callback"
	oidcCookie       = "approval_oidc"
	// oidcFlowTTL bounds the time from start to callback.
	oidcFlowTTL = 10 * time.Minute
)

// oidcLogin is the relying party.
type oidcLogin struct {
	cfg OIDCConfig

	mu       sync.Mutex
	provider *oidc.Provider
	lastTry  time.Time
}

// setupOIDC checks cfg.OIDC; with none, the page has passwords only.
func (p *Page) setupOIDC() error {
	c := p.cfg.OIDC
	if c == nil {
		return nil
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("approval page: OIDC issuer %q must be an absolute URL", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("approval page: OIDC needs a client id")
	}
	if len(c.AllowedGroups) == 0 {
		return errors.New("approval page: OIDC needs the groups allowed to approve (\"*\" for every user of the issuer)")
	}
	cc := *c
	if cc.GroupsClaim == "" {
		cc.GroupsClaim = "groups"
	}
	if cc.NameClaim == "" {
		cc.NameClaim = "sub"
	}
	if cc.HTTPClient == nil {
		cc.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	p.oidc = &oidcLogin{cfg: cc}
	return nil
}

// registerOIDC mounts the sign-in routes when OIDC is configured.
func (p *Page) registerOIDC(mux *http.ServeMux) {
	if p.oidc == nil {
		return
	}
	mux.Handle("GET "+pathOIDCStart, p.guard(p.oidcStart))
	mux.Handle("GET "+pathOIDCCallback, p.guard(p.oidcCallback))
}

// ssoURL is the link of the login form to the IdP sign-in, or "".
func (p *Page) ssoURL(next string) string {
	if p.oidc == nil {
		return ""
	}
	return pathOIDCStart + "?next=" + url.QueryEscape(next)
}

// providerFor discovers the IdP on first use, so a server starts while the
// IdP is away; a failed discovery is retried at most every 10 s.
func (o *oidcLogin) providerFor(ctx context.Context, now time.Time) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	if !o.lastTry.IsZero() && now.Sub(o.lastTry) < 10*time.Second {
		return nil, errors.New("the identity provider did not answer; retrying shortly")
	}
	o.lastTry = now
	pr, err := oidc.NewProvider(oidc.ClientContext(ctx, o.cfg.HTTPClient), o.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	o.provider = pr
	return pr, nil
}

func (p *Page) oauth2Config(pr *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.oidc.cfg.ClientID, ClientSecret: p.oidc.cfg.ClientSecret,
		Endpoint: pr.Endpoint(), RedirectURL: p.cfg.BaseURL + pathOIDCCallback,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"},
	}
}

// oidcFlow is what the browser carries from start to callback, in a
// short-lived cookie: nothing is kept server-side, so the callback may land
// on any replica.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
}

func (p *Page) oidcStart(w http.ResponseWriter, r *http.Request, v *view) {
	pr, err := p.oidc.providerFor(r.Context(), p.now())
	if err != nil {
		p.log.Error("approver OIDC sign-in: identity provider unavailable", "err", err)
		p.render(w, http.StatusServiceUnavailable, v, "The sign-in service cannot be reached right now; try again shortly.", true)
		return
	}
	f := oidcFlow{State: randomString(24), Nonce: randomString(24), Verifier: oauth2.GenerateVerifier(), Next: safeNext(r.URL.Query().Get("next"))}
	b, _ := json.Marshal(f)
	c := p.cookie(oidcCookie, base64.RawURLEncoding.EncodeToString(b), oidcFlowTTL) //nolint:gosec // G124: HttpOnly, Secure as the page; Lax on purpose, below
	// The IdP sends the browser back with a top-level GET from its own
	// site: a Strict cookie would stay behind, Lax comes along.
	c.SameSite = http.SameSiteLaxMode
	http.SetCookie(w, c)
	http.Redirect(w, r, p.oauth2Config(pr).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

func (p *Page) oidcCallback(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = "Sign in to approve"
	refuse := func(code int, msg string, args ...any) {
		p.log.Warn("approver OIDC sign-in refused", args...)
		http.SetCookie(w, p.cookie(oidcCookie, "", -1))
		p.render(w, code, v, msg, true)
	}
	var f oidcFlow
	c, err := r.Cookie(oidcCookie)
	if err == nil {
		b, derr := base64.RawURLEncoding.DecodeString(c.Value)
		err = errors.Join(derr, json.Unmarshal(b, &f))
	}
	q := r.URL.Query()
	if err != nil || f.State == "" || subtle.ConstantTimeCompare([]byte(f.State), []byte(q.Get("state"))) != 1 {
		refuse(http.StatusForbidden, "Refused: this sign-in did not start in this browser, or took too long. Open the approval link again.", "reason", "state")
		return
	}
	if e := q.Get("error"); e != "" {
		refuse(http.StatusUnauthorized, "The identity provider did not sign you in ("+e+").", "reason", "idp error", "error", e)
		return
	}
	pr, err := p.oidc.providerFor(r.Context(), p.now())
	if err != nil {
		refuse(http.StatusServiceUnavailable, "The sign-in service cannot be reached right now; try again shortly.", "err", err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), p.oidc.cfg.HTTPClient)
	tok, err := p.oauth2Config(pr).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		refuse(http.StatusUnauthorized, "Refused: the sign-in could not be completed. Open the approval link again.", "reason", "code exchange", "err", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := pr.VerifierContext(ctx, &oidc.Config{ClientID: p.oidc.cfg.ClientID, Now: p.now}).Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusUnauthorized, "Refused: the identity provider's answer did not verify.", "reason", "id token", "err", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		refuse(http.StatusUnauthorized, "Refused: the identity provider's answer belongs to another sign-in.", "reason", "nonce")
		return
	}
	id, err := p.oidc.identity(idt)
	if err != nil {
		refuse(http.StatusUnauthorized, "Refused: "+err.Error(), "reason", "claims", "err", err)
		return
	}
	if !p.oidc.allowed(id) {
		refuse(http.StatusForbidden, "Refused: your account is not in a group allowed to approve changes.", "reason", "group", "approver", id.Name)
		return
	}
	http.SetCookie(w, p.cookie(oidcCookie, "", -1))
	p.startSession(w, r, id, f.Next)
}

// identity is the approver as a principal: issuer, name and groups.
func (o *oidcLogin) identity(idt *oidc.IDToken) (caller.Identity, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return caller.Identity{}, fmt.Errorf("unreadable claims: %w", err)
	}
	name, _ := claims[o.cfg.NameClaim].(string)
	if name == "" {
		return caller.Identity{}, fmt.Errorf("the identity provider sent no %q claim", o.cfg.NameClaim)
	}
	var groups []string
	switch g := claims[o.cfg.GroupsClaim].(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				groups = append(groups, s)
			}
		}
	case string:
		groups = []string{g}
	}
	return caller.Identity{Name: name, Method: caller.MethodOAuth, Issuer: idt.Issuer, Groups: groups}, nil
}

func (o *oidcLogin) allowed(id caller.Identity) bool {
	return slices.ContainsFunc(o.cfg.AllowedGroups, func(g string) bool { return g == "*" || id.InGroup(g) })
}

// startSession signs approver id in and sends the browser on to next.
func (p *Page) startSession(w http.ResponseWriter, r *http.Request, id caller.Identity, next string) {
	key := make([]byte, 32)
	randRead(key)
	sid := randomString(32)
	if err := p.sessions.PutSession(r.Context(), sid, Session{Who: id, Key: key, Expires: p.now().Add(p.cfg.SessionTTL)}); err != nil {
		p.log.Error("approver session store unavailable: sign-in not recorded", "err", err)
		http.Error(w, "The sign-in could not be recorded; try again shortly.", http.StatusServiceUnavailable)
		return
	}
	p.log.Info("approver signed in", "approver", id.Name, "method", id.Method, "issuer", id.Issuer)
	http.SetCookie(w, p.cookie(loginCookie, "", -1))
	http.SetCookie(w, p.cookie(sessionCookie, sid, p.cfg.SessionTTL))
	http.Redirect(w, r, next, http.StatusSeeOther)
}
