package approval

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/httpserve/oauthtest"
)

// newOIDCFixture serves the page with passwords (the demo approvers) and
// sign-in through a test IdP, whose members of "approvers" may approve.
func newOIDCFixture(t *testing.T) (*fixture, *oauthtest.Issuer) {
	t.Helper()
	is := oauthtest.Start(t)
	f := &fixture{store: NewMemStore(), clock: &clock{t: time.Now()}}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	var err error
	f.page, err = NewPage(Config{Store: f.store, Approvers: DemoApprovers(), BaseURL: f.srv.URL, Now: f.clock.now,
		OIDC: &OIDCConfig{Issuer: is.URL, ClientID: oauthtest.ClientID, ClientSecret: oauthtest.ClientSecret, AllowedGroups: []string{"approvers"}, NameClaim: "email"}})
	if err != nil {
		t.Fatal(err)
	}
	f.page.Register(mux)
	return f, is
}

func TestOIDCSignIn(t *testing.T) {
	f, is := newOIDCFixture(t)
	r := f.request(t, 1)
	path := "/approve/" + r.ID

	t.Run("member of an allowed group approves", func(t *testing.T) {
		is.User.Store(&oauthtest.User{Subject: "u-123", Email: "carol@example.com", Groups: []string{"soc", "approvers"}})
		b := f.browser(t)
		code, body := b.get(path)
		if code != http.StatusOK || !strings.Contains(body, pathOIDCStart) {
			t.Fatalf("login form without the IdP link: %d\n%s", code, body)
		}
		code, body = b.get(pathOIDCStart + "?next=" + url.QueryEscape(path))
		if code != http.StatusOK || !strings.Contains(body, "Signed in as <b>carol@example.com</b>") {
			t.Fatalf("after the IdP: %d\n%s", code, body)
		}
		code, body = b.post(path, url.Values{"csrf": {field(t, body)}, "decision": {"approve"}})
		if code != http.StatusOK || !strings.Contains(body, "Approved (1 of 1)") {
			t.Fatalf("approve: %d\n%s", code, body)
		}
		got, _ := f.store.Get(t.Context(), r.ID)
		if got.Approvers()[0] != "carol@example.com" {
			t.Errorf("approved by %v", got.Approvers())
		}
		mem := f.page.sessions.(*memSessions)
		mem.mu.Lock()
		defer mem.mu.Unlock()
		for _, s := range mem.m {
			if s.Who.Method != "oauth" || s.Who.Issuer != is.URL || !s.Who.InGroup("approvers") {
				t.Errorf("approver principal %+v", s.Who)
			}
		}
	})
	refused := []struct {
		name string
		user *oauthtest.User
		want int
	}{
		{"not in an allowed group", &oauthtest.User{Subject: "u-9", Email: "dave@example.com", Groups: []string{"soc"}}, http.StatusForbidden},
		{"the IdP refuses", nil, http.StatusUnauthorized},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			is.User.Store(tc.user)
			b := f.browser(t)
			code, body := b.get(pathOIDCStart + "?next=" + url.QueryEscape(path))
			if code != tc.want || strings.Contains(body, "Signed in as") {
				t.Fatalf("%d, want %d\n%s", code, tc.want, body)
			}
			if code, _ := b.get(path); code != http.StatusOK {
				t.Errorf("page after a refused sign-in: %d", code)
			}
			if _, body := b.get(path); strings.Contains(body, "Signed in as") {
				t.Error("a refused sign-in left a session")
			}
		})
	}
	t.Run("callback in another browser", func(t *testing.T) {
		is.User.Store(&oauthtest.User{Subject: "u-123", Email: "carol@example.com", Groups: []string{"approvers"}})
		// The victim starts a sign-in; the attacker's browser gets the
		// callback URL (login CSRF): no flow cookie there, refused.
		victim := f.browser(t)
		victim.c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			if req.URL.Path == pathOIDCCallback {
				return http.ErrUseLastResponse
			}
			return nil
		}
		resp, err := victim.c.Get(f.srv.URL + pathOIDCStart + "?next=" + url.QueryEscape(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		if !strings.Contains(callback, "code=") {
			t.Fatalf("no callback: %d %q", resp.StatusCode, callback)
		}
		jar, _ := cookiejar.New(nil)
		attacker := &browser{t: t, f: f, c: &http.Client{Jar: jar}}
		u, _ := url.Parse(callback)
		if code, body := attacker.get(u.RequestURI()); code != http.StatusForbidden || strings.Contains(body, "Signed in as") {
			t.Errorf("callback without the flow cookie: %d", code)
		}
	})
}

// TestPasswordBackoff: after three wrong passwords for one account, the
// right one is refused until the wait is over; the wait doubles per failure
// and is bounded; another address guessing many names backs off too.
func TestPasswordBackoff(t *testing.T) {
	f := newFixture(t)
	r := f.request(t, 1)
	path := "/approve/" + r.ID
	b := f.browser(t)
	_, body := b.get(path)
	csrf := field(t, body)
	try := func(name, password string) int {
		code, _ := b.post(pathLogin, url.Values{"csrf": {csrf}, "next": {path}, "name": {name}, "password": {password}})
		return code
	}
	for i := range 3 {
		if code := try(DemoApprover, "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	if code := try(DemoApprover, DemoPassword); code != http.StatusTooManyRequests {
		t.Fatalf("the right password during the lockout: %d, want 429", code)
	}
	f.clock.add(1100 * time.Millisecond)
	if code := try(DemoApprover, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("after the wait, a wrong password: %d", code)
	}
	f.clock.add(1100 * time.Millisecond) // the wait doubled to 2 s
	if code := try(DemoApprover, DemoPassword); code != http.StatusTooManyRequests {
		t.Errorf("the wait did not double: %d", code)
	}
	f.clock.add(time.Second)
	if code := try(DemoApprover, DemoPassword); code != http.StatusOK {
		t.Fatalf("the right password after the wait: %d", code)
	}

	// The address counts too: names sprayed from one address back off.
	bo := newBackoff(f.clock.now)
	record := func(name, addr string) {
		if err := bo.SignInResult(t.Context(), signInKeys(name, addr), false, f.clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(name, addr string) time.Duration {
		w, err := bo.SignInWait(t.Context(), signInKeys(name, addr), f.clock.now())
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for i := range 3 {
		record("name"+string(rune('a'+i)), "192.0.2.7")
	}
	if wait("someone-else", "192.0.2.7") == 0 {
		t.Error("spraying names from one address is not slowed")
	}
	if wait("someone-else", "192.0.2.8") != 0 {
		t.Error("another address is slowed by this one")
	}
	for range 60 {
		record("x", "198.51.100.1")
	}
	if w := wait("x", "198.51.100.1"); w > maxBackoff {
		t.Errorf("wait %s beyond the bound %s", w, maxBackoff)
	}
}
