package httpserve_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/internal/httpserve"
	"github.com/incident-mcp/incident-mcp/internal/httpserve/oauthtest"
)

// TestJWKSRefetchIsRateLimited: forged tokens with unknown key ids cost at
// most one key-set download per interval, however many arrive.
func TestJWKSRefetchIsRateLimited(t *testing.T) {
	is := oauthtest.Start(t)
	resource := "https://mcp.example.com/mcp"
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	o, err := httpserve.NewOAuth(httpserve.OAuthConfig{Issuer: is.URL, Resource: resource, Now: clock, RefetchInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := oauthtest.NewForger(t)
	forge := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tok := f.Token(t, fmt.Sprintf("kid-%d-%d", i, time.Now().UnixNano()), oauthtest.Claims{Issuer: is.URL, Subject: "mallory", Audience: []string{resource}, Expiry: time.Now().Add(time.Hour)})
				if _, err := o.Authenticate(t.Context(), tok); err == nil {
					t.Error("a forged token was accepted")
				}
			})
		}
		wg.Wait()
	}
	forge(1000)
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Errorf("1,000 forged tokens on a cold cache: %d fetches, want 1", n)
	}
	advance(10 * time.Second)
	forge(1000)
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Errorf("within the interval: %d fetches, want still 1", n)
	}
	advance(21 * time.Second)
	forge(1000)
	if n := is.JWKSFetches.Load(); n != 2 {
		t.Errorf("after the interval: %d fetches, want 2", n)
	}
	// The real key is cached: a good token costs nothing.
	good := is.Token(t, oauthtest.Claims{Subject: "ann", Audience: []string{resource}, Scope: "incidents read", Groups: []string{"soc", "responders"}})
	id, err := o.Authenticate(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	if n := is.JWKSFetches.Load(); n != 2 {
		t.Errorf("a good token after the burst: %d fetches", n)
	}
	want := caller.Identity{Name: "ann", Method: caller.MethodOAuth, Issuer: is.URL, Groups: []string{"soc", "responders"}, Scopes: []string{"incidents", "read"}}
	if id.Name != want.Name || id.Method != want.Method || id.Issuer != want.Issuer || !slices.Equal(id.Groups, want.Groups) || !slices.Equal(id.Scopes, want.Scopes) {
		t.Errorf("identity %+v, want %+v", id, want)
	}
	if !id.Matches("group:responders") || !id.Matches("scope:read") || id.Key() != "oauth:"+is.URL+"#ann" {
		t.Errorf("selectors or key: %+v %s", id, id.Key())
	}
}

func TestInsecureIssuerRefused(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		allow  bool
		ok     bool
	}{
		{"https://idp.example.com", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://idp.example.com", false, false},
		{"http://idp.example.com", true, true},
	} {
		_, err := httpserve.NewOAuth(httpserve.OAuthConfig{Issuer: tc.issuer, Resource: "https://mcp.example.com/mcp", AllowHTTP: tc.allow})
		if (err == nil) != tc.ok {
			t.Errorf("%s allow=%v: %v", tc.issuer, tc.allow, err)
		}
	}
}
