// Package oauthtest is an in-process OAuth 2.1 authorization server for
// tests: it publishes RFC 8414 metadata and a JWKS, and signs real RS256
// access tokens with whatever claims a test asks for.
package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	is := &Issuer{key: key}
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
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.JWKSFetches.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	return is
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
