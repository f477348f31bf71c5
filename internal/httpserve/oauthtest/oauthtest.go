// Package oauthtest is an in-process OAuth 2.1 authorization server for
// tests: it publishes RFC 8414 metadata and a JWKS, and signs real RS256
// access tokens with whatever claims a test asks for. It is an OpenID
// Connect provider too (discovery, /authorize, /token with PKCE S256),
// signing in whichever User the test sets.
package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a running test authorization server.
type Issuer struct {
	URL string
	// JWKSFetches counts key-set downloads (caching is observable).
	JWKSFetches atomic.Int64

	// User is who the /authorize endpoint signs in (OpenID Connect): a
	// test sets it before sending a browser there. Empty: access denied.
	User atomic.Pointer[User]

	codesMu sync.Mutex
	codes   map[string]authCode

	key    *rsa.PrivateKey
	signer jose.Signer
}

// Start runs an issuer until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{key: key, codes: map[string]authCode{}}
	is.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/jwks", "token_endpoint": is.URL + "/token"})
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/jwks", "token_endpoint": is.URL + "/token",
			"authorization_endpoint": is.URL + "/authorize", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("/authorize", is.authorize)
	mux.HandleFunc("/token", is.token)
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.JWKSFetches.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	return is
}

// User is the person the test IdP signs in.
type User struct {
	Subject string
	Email   string
	Groups  []string
}

// ClientID is the relying party the test IdP knows; its secret is
// ClientSecret.
const (
	ClientID     = "approval-page"
	ClientSecret = "approval-page-secret"
)

type authCode struct {
	user      User
	nonce     string
	challenge string
	redirect  string
	expires   time.Time
}

// authorize signs in is.User at once (no login form) and sends the browser
// back with a code bound to the PKCE challenge, the nonce and the redirect.
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != ClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	u := is.User.Load()
	switch {
	case u == nil:
		back.Set("error", "access_denied")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
	default:
		code := rand.Text()
		is.codesMu.Lock()
		is.codes[code] = authCode{user: *u, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), expires: time.Now().Add(time.Minute)}
		is.codesMu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound) //nolint:gosec // G710: a test IdP redirects where the test asks
}

// token redeems a code once, checking the client, the redirect and the
// PKCE verifier, and answers with an ID token.
func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	is.codesMu.Lock()
	c, found := is.codes[r.PostFormValue("code")]
	delete(is.codes, r.PostFormValue("code"))
	is.codesMu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case id != ClientID || secret != ClientSecret:
		tokenError(w, "invalid_client")
		return
	case !found || time.Now().After(c.expires) || c.redirect != r.PostFormValue("redirect_uri"):
		tokenError(w, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
		tokenError(w, "invalid_grant")
		return
	}
	claims := struct {
		jwt.Claims
		Nonce  string   `json:"nonce,omitempty"`
		Email  string   `json:"email,omitempty"`
		Groups []string `json:"groups,omitempty"`
	}{jwt.Claims{
		Issuer: is.URL, Subject: c.user.Subject, Audience: jwt.Audience{ClientID},
		Expiry: jwt.NewNumericDate(time.Now().Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now()),
	}, c.nonce, c.user.Email, c.user.Groups}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: is.key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	idt, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idt})
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// Forger signs tokens with a key the issuer never published, under any key
// id: what an attacker can make.
type Forger struct {
	key *ecdsa.PrivateKey
}

// NewForger makes an attacker's key.
func NewForger(t testing.TB) *Forger {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Forger{key: key}
}

// Token signs c (issuer and audience as given) under key id kid.
func (f *Forger) Token(t testing.TB, kid string, c Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: f.key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Expiry: jwt.NewNumericDate(c.Expiry)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Claims of a token to sign; zero fields take sensible values.
type Claims struct {
	Subject  string
	Audience []string
	Issuer   string // default: this issuer
	Expiry   time.Time
	Scope    string
	Groups   []string
}

// Token signs an access token.
func (is *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	if c.Issuer == "" {
		c.Issuer = is.URL
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	claims := struct {
		jwt.Claims
		Scope  string   `json:"scope,omitempty"`
		Groups []string `json:"groups,omitempty"`
	}{jwt.Claims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		Expiry: jwt.NewNumericDate(c.Expiry), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
	}, c.Scope, c.Groups}
	tok, err := jwt.Signed(is.signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
