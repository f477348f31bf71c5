package approval

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/incident-mcp/incident-mcp/caller"
	"github.com/incident-mcp/incident-mcp/schema"
)

//go:embed page.html
var pageFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"show": showValue,
	"text": func(s string) string { v, _ := schema.Visible(s, true); return v },
	"utc":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(pageFS, "page.html"))

// Paths on the listener. Request pages live under /approve/; the login and
// logout forms beside them, under a prefix no request id can take.
const (
	prefixApprove = "/approve/"
	pathLogin     = "/approval/login"
	pathLogout    = "/approval/logout"
)

const (
	sessionCookie = "approval_session"
	loginCookie   = "approval_login"
)

// Config configures the approval page.
type Config struct {
	Store     Store
	Approvers Approvers // the passwords file; nil with OIDC only
	// OIDC, when set, lets approvers sign in with the organisation's IdP.
	OIDC *OIDCConfig
	// BaseURL is where the page is reached from the user's browser, e.g.
	// https://incidents.example.com or http://127.0.0.1:8765.
	BaseURL string
	// Secure marks cookies Secure; set it when the page is served over
	// HTTPS (directly or behind a TLS proxy).
	Secure bool
	// SessionTTL bounds an approver's login (default 1h).
	SessionTTL time.Duration
	// Sessions keeps the approvers' sessions; nil keeps them in this
	// process. Replicas behind a load balancer share one (Redis), so an
	// approver signed in on one is signed in on all.
	Sessions SessionStore
	// Throttle counts failed password sign-ins; nil counts in this
	// process. Replicas share one (Redis), so the backoff holds across
	// them.
	Throttle SignInThrottle
	// OnDecision runs after each recorded decision, e.g. to tell the MCP
	// client that a URL elicitation completed.
	OnDecision func(r *Request)
	// MayApprove says whether a signed-in approver may decide changes to
	// an instance's incidents (the access rules' approve right); nil lets
	// every approver decide everything.
	MayApprove func(who caller.Identity, instance string) bool
	Logger     *slog.Logger
	Now        func() time.Time
}

// Page serves the approval pages and keeps the approvers' sessions.
type Page struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	logins   *rate.Limiter
	backoff  SignInThrottle
	oidc     *oidcLogin // nil without an OIDC issuer
	sessions SessionStore
}

// session is one logged-in approver. Its key derives the CSRF token of each
// request page, so a token works only with its session and its request.
type session struct {
	approver string
	who      caller.Identity // the approver as a principal
	key      []byte
	expires  time.Time
}

// Session is a signed-in approver as a SessionStore keeps it.
type Session struct {
	Who     caller.Identity `json:"who"`
	Key     []byte          `json:"key"`
	Expires time.Time       `json:"expires"`
}

// SessionStore keeps the approvers' sessions by session id (the cookie's
// value, a bearer secret: a shared store should key by a hash of it).
type SessionStore interface {
	PutSession(ctx context.Context, id string, s Session) error
	// Session returns the session, or ErrNotFound (also once expired).
	Session(ctx context.Context, id string, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// memSessions is the SessionStore of one process.
type memSessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]Session
}

func (m *memSessions) PutSession(_ context.Context, id string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, o := range m.m {
		if !now.Before(o.Expires) {
			delete(m.m, k)
		}
	}
	m.m[id] = s
	return nil
}

func (m *memSessions) Session(_ context.Context, id string, now time.Time) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[id]
	if !ok || !now.Before(s.Expires) {
		delete(m.m, id)
		return nil, ErrNotFound
	}
	return &s, nil
}

func (m *memSessions) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, id)
	return nil
}

// NewPage returns the approval page over cfg.Store.
func NewPage(cfg Config) (*Page, error) {
	if cfg.Store == nil || (cfg.Approvers == nil && cfg.OIDC == nil) {
		return nil, errors.New("approval page: a store and approvers (a passwords file or OIDC) are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("approval page: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = time.Hour
	}
	p := &Page{cfg: cfg, log: cfg.Logger, now: cfg.Now, sessions: cfg.Sessions,
		// Password guessing is slow by the hash; this caps it for all
		// names together.
		logins: rate.NewLimiter(rate.Every(200*time.Millisecond), 10)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sessions == nil {
		p.sessions = &memSessions{now: p.now, m: map[string]Session{}}
	}
	p.backoff = cfg.Throttle
	if p.backoff == nil {
		p.backoff = newBackoff(p.now)
	}
	if err := p.setupOIDC(); err != nil {
		return nil, err
	}
	return p, nil
}

// URL is the page of request id, as the user opens it.
func (p *Page) URL(id string) string { return p.cfg.BaseURL + prefixApprove + url.PathEscape(id) }

// Now is the page's clock, which decides expiry.
func (p *Page) Now() time.Time { return p.now() }

// Store is the page's request store.
func (p *Page) Store() Store { return p.cfg.Store }

// Register mounts the page's routes on mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.Handle("GET "+prefixApprove+"{request}", p.guard(p.show))
	mux.Handle("POST "+prefixApprove+"{request}", p.guard(p.decide))
	mux.Handle("GET "+pathLogin, p.guard(p.loginForm))
	mux.Handle("POST "+pathLogin, p.guard(p.login))
	mux.Handle("POST "+pathLogout, p.guard(p.logout))
	p.registerOIDC(mux)
}

// Handler is a mux with only the page's routes, for a listener of its own.
func (p *Page) Handler() http.Handler {
	mux := http.NewServeMux()
	p.Register(mux)
	return mux
}

// view is what the template renders.
type view struct {
	Nonce    string
	Title    string
	Approver string
	// Login form
	Next, LoginCSRF, LoginError string
	SSO                         string // the IdP sign-in link, when configured
	// Request page
	Req       *Request
	State     State
	ExpiresIn string
	CSRF      string
	CanDecide bool
	Approved  bool // by this approver
	// Requester: the signed-in approver asked for this change, and may
	// only reject it.
	Requester bool
	// Hidden: a value on the page held invisible, bidi or control
	// characters, now shown as ⟨U+XXXX⟩.
	Hidden     bool
	Message    string
	MessageBad bool
}

// guard sets the headers every response carries: no framing (the buttons
// must not be clickjacked), no caching, no referrer (the URL is a
// capability), a strict CSP with a per-response style nonce.
func (p *Page) guard(h func(http.ResponseWriter, *http.Request, *view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &view{Nonce: randomString(16)}
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost && !sameOrigin(r) {
			p.render(w, http.StatusForbidden, v, "Refused: this form was posted from another site.", true)
			return
		}
		h(w, r, v)
	})
}

// sameOrigin refuses cross-site POSTs that carry an Origin header (every
// current browser sends one on POST); SameSite cookies and the CSRF token
// stop the rest.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (p *Page) render(w http.ResponseWriter, code int, v *view, msg string, bad bool) {
	if msg != "" {
		v.Message, v.MessageBad = msg, bad
	}
	if v.Title == "" {
		v.Title = "Incident change approval"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pageTmpl.Execute(w, v); err != nil {
		p.log.Error("approval page render", "err", err)
	}
}

// current returns the logged-in approver's session, or nil.
func (p *Page) current(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	st, err := p.sessions.Session(r.Context(), c.Value, p.now())
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			p.log.Error("approver session store unavailable", "err", err)
		}
		return nil
	}
	return &session{approver: st.Who.Name, who: st.Who, key: st.Key, expires: st.Expires}
}

func (s *session) csrf(requestID string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("decide:" + requestID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Page) show(w http.ResponseWriter, r *http.Request, v *view) {
	s := p.current(r)
	if s == nil {
		http.Redirect(w, r, pathLogin+"?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	p.page(w, r, v, s, http.StatusOK, "", false)
}

// page renders request r.PathValue("request") for session s.
func (p *Page) page(w http.ResponseWriter, r *http.Request, v *view, s *session, code int, msg string, bad bool) {
	id := r.PathValue("request")
	v.Approver = s.approver
	req, err := p.cfg.Store.Get(r.Context(), id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			p.render(w, http.StatusNotFound, v, "There is no approval request with this id (it may have expired long ago). Ask the assistant for a new one.", true)
			return
		}
		p.log.Error("approval store", "err", err)
		p.render(w, http.StatusServiceUnavailable, v, "The approval store cannot be read right now; try again.", true)
		return
	}
	now := p.now()
	v.Req, v.State = req, req.StateAt(now)
	v.Title = "Approve a change to " + showValue(req.Incident.ID)
	if left := req.Expires.Sub(now); left > 0 {
		v.ExpiresIn = left.Round(time.Second).String()
	}
	for _, a := range req.Approvals {
		v.Approved = v.Approved || a.By == s.approver
	}
	v.Requester = req.IsRequester(s.approver)
	allowed := p.mayApprove(s, req)
	v.CanDecide = v.State == StatePending && !v.Approved && allowed
	if !allowed && msg == "" {
		msg, bad = "You may not approve or reject changes to incidents of "+showValue(req.Incident.Instance)+" (the server's access rules); another approver must decide.", true
	}
	v.Hidden = hidesCharacters(req)
	v.CSRF = s.csrf(req.ID)
	p.render(w, code, v, msg, bad)
}

func (p *Page) decide(w http.ResponseWriter, r *http.Request, v *view) {
	s := p.current(r)
	if s == nil {
		p.render(w, http.StatusForbidden, v, "Refused: you are not signed in as an approver (or your session ended). Sign in and open the link again.", true)
		return
	}
	id := r.PathValue("request")
	got := r.PostFormValue("csrf")
	if got == "" || !hmac.Equal([]byte(got), []byte(s.csrf(id))) {
		p.log.Warn("approval POST refused: bad CSRF token", "request", id, "approver", s.approver)
		p.page(w, r, v, s, http.StatusForbidden, "Refused: the form's security token does not match your session. Nothing was decided; reload the page and try again.", true)
		return
	}
	if req, err := p.cfg.Store.Get(r.Context(), id); err == nil && !p.mayApprove(s, req) {
		p.log.Warn("approval decision refused: no approve right", "request", id, "approver", s.approver, "instance", req.Incident.Instance)
		p.page(w, r, v, s, http.StatusForbidden, "Refused: the server's access rules do not let you decide changes to incidents of "+showValue(req.Incident.Instance)+". Nothing changed.", true)
		return
	}
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		p.page(w, r, v, s, http.StatusBadRequest, "Refused: choose Approve or Reject.", true)
		return
	}
	req, err := p.Decide(r.Context(), id, Decision{By: s.approver, Via: ViaPage}, approve)
	switch {
	case errors.Is(err, ErrNotFound):
		p.page(w, r, v, s, http.StatusNotFound, "", true)
		return
	case errors.Is(err, ErrSelfApproval):
		p.page(w, r, v, s, http.StatusForbidden, "Refused: "+err.Error()+". Nothing changed.", true)
		return
	case errors.Is(err, ErrDecided), errors.Is(err, ErrSameApprover):
		p.page(w, r, v, s, http.StatusConflict, "Refused: "+err.Error()+". Nothing changed.", true)
		return
	case err != nil:
		p.page(w, r, v, s, http.StatusServiceUnavailable, "The decision could not be recorded; nothing changed. Try again.", true)
		return
	}
	msg := "Rejected. Nothing will be written."
	if approve {
		msg = fmt.Sprintf("Approved (%d of %d). ", len(req.Approvals), max(req.Required, 1))
		if req.StateAt(p.now()) == StateApproved {
			msg += "The assistant can apply the change now (once); you can close this page."
		} else {
			msg += "Another approver still has to approve it."
		}
	}
	p.page(w, r, v, s, http.StatusOK, msg, false)
}

// mayApprove applies Config.MayApprove to the session's approver.
func (p *Page) mayApprove(s *session, req *Request) bool {
	return p.cfg.MayApprove == nil || p.cfg.MayApprove(s.who, req.Incident.Instance)
}

// Decide records d on request id (approve or reject) in the store, with
// the store's rules (pending only, never the requester's approval, one
// approval per approver), stamps it with the page's clock, logs it and runs
// OnDecision. The page and the change view of an MCP Apps host both decide
// through it, so both leave the same trail.
func (p *Page) Decide(ctx context.Context, id string, d Decision, approve bool) (*Request, error) {
	d.At = p.now()
	req, err := p.cfg.Store.Decide(ctx, id, d, approve)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, err
	case errors.Is(err, ErrSelfApproval):
		p.log.Warn("self-approval refused", "request", id, "approver", d.By, "via", d.Via)
		return req, err
	case errors.Is(err, ErrDecided), errors.Is(err, ErrSameApprover):
		p.log.Info("approval decision refused", "request", id, "approver", d.By, "via", d.Via, "err", err)
		return req, err
	case err != nil:
		p.log.Error("approval store", "err", err)
		return nil, err
	}
	p.log.Info("approval decision", "request", id, "incident", req.Incident.ID, "approver", d.By, "via", d.Via, "approve", approve, "state", req.StateAt(p.now()))
	if p.cfg.OnDecision != nil {
		p.cfg.OnDecision(req)
	}
	return req, nil
}

func (p *Page) loginForm(w http.ResponseWriter, r *http.Request, v *view) {
	v.Next = safeNext(r.URL.Query().Get("next"))
	if p.cfg.Approvers == nil {
		http.Redirect(w, r, p.ssoURL(v.Next), http.StatusSeeOther)
		return
	}
	v.Title = "Sign in to approve"
	v.SSO = p.ssoURL(v.Next)
	v.LoginCSRF = randomString(24)
	http.SetCookie(w, p.cookie(loginCookie, v.LoginCSRF, 10*time.Minute))
	p.render(w, http.StatusOK, v, "", false)
}

func (p *Page) login(w http.ResponseWriter, r *http.Request, v *view) {
	v.Next = safeNext(r.PostFormValue("next"))
	v.Title = "Sign in to approve"
	// Login CSRF: the form's token must match the cookie set with it, so
	// another site cannot sign a browser in under its own account.
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || !hmac.Equal([]byte(c.Value), []byte(r.PostFormValue("csrf"))) {
		v.LoginCSRF = randomString(24)
		http.SetCookie(w, p.cookie(loginCookie, v.LoginCSRF, 10*time.Minute))
		p.render(w, http.StatusForbidden, v, "Refused: the sign-in form expired or came from elsewhere. Try again.", true)
		return
	}
	if p.cfg.Approvers == nil {
		p.render(w, http.StatusForbidden, v, "Refused: sign in with your organisation's account.", true)
		return
	}
	if err := p.logins.Wait(r.Context()); err != nil {
		return
	}
	name, addr := r.PostFormValue("name"), clientAddr(r)
	keys := signInKeys(name, addr)
	wait, err := p.backoff.SignInWait(r.Context(), keys, p.now())
	if err != nil {
		p.log.Error("approver sign-in refused: the sign-in counters cannot be read", "err", err)
		p.render(w, http.StatusServiceUnavailable, v, "Sign-in is unavailable right now; try again shortly.", true)
		return
	}
	if wait > 0 {
		p.log.Warn("approver sign-in refused: backing off after failed attempts", "name", name, "remote", addr, "wait", wait.Round(time.Second))
		v.LoginCSRF = c.Value
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		p.render(w, http.StatusTooManyRequests, v, fmt.Sprintf("Too many failed sign-ins for this account or from this address: try again in %s.", wait.Round(time.Second)+time.Second), true)
		return
	}
	who, ok := p.cfg.Approvers.Check(name, r.PostFormValue("password"))
	if err := p.backoff.SignInResult(r.Context(), keys, ok, p.now()); err != nil {
		p.log.Error("approver sign-in: the sign-in counters cannot be written", "err", err)
	}
	if !ok {
		p.log.Warn("approver sign-in failed", "name", name, "remote", addr)
		v.LoginCSRF = c.Value
		p.render(w, http.StatusUnauthorized, v, "Wrong name or password.", true)
		return
	}
	p.startSession(w, r, caller.Identity{Name: who, Method: caller.MethodPassword}, v.Next)
}

func randRead(b []byte) { rand.Read(b) }

func (p *Page) logout(w http.ResponseWriter, r *http.Request, v *view) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := p.sessions.DeleteSession(r.Context(), c.Value); err != nil {
			p.log.Error("approver session store unavailable: the session was not deleted", "err", err)
		}
	}
	http.SetCookie(w, p.cookie(sessionCookie, "", -1))
	p.render(w, http.StatusOK, v, "Signed out.", false)
}

// cookie is HttpOnly and SameSite=Strict: a link or form from another site
// never carries it.
func (p *Page) cookie(name, value string, ttl time.Duration) *http.Cookie {
	// Secure follows the listener: the stdio-mode page serves plain HTTP on loopback.
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteStrictMode} //nolint:gosec // see above
	if ttl < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(ttl.Seconds())
	}
	return c
}

// safeNext keeps redirects after sign-in on this site's request pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, prefixApprove) || strings.ContainsAny(next, "\\?#") || strings.Contains(next, "//") {
		return prefixApprove
	}
	return next
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// showValue renders one value on one line, its invisible characters made
// visible (schema.Visible).
func showValue(v any) string {
	if v == nil {
		return "(none)"
	}
	s := fmt.Sprint(v)
	if s == "" {
		return "(none)"
	}
	s, _ = schema.Visible(s, false)
	return s
}

// hidesCharacters reports whether any value the page shows holds
// characters that change how it reads without being seen, so the page
// warns beside the ⟨U+XXXX⟩ marks.
func hidesCharacters(req *Request) bool {
	oneLine := []string{req.Incident.ID, req.Incident.Instance, req.Incident.Vendor, req.Incident.Title,
		string(req.Incident.Status), string(req.Incident.Severity), req.Requester.Client, req.Requester.Caller}
	if a := req.Incident.Assignee; a != nil {
		oneLine = append(oneLine, a.ID, a.Name)
	}
	changes := slices.Clone(req.Changes)
	for _, it := range req.Items {
		oneLine = append(oneLine, it.ID, it.Title)
		changes = append(changes, it.Changes...)
	}
	for _, c := range changes {
		for _, v := range []any{c.From, c.To} {
			if v != nil {
				oneLine = append(oneLine, fmt.Sprint(v))
			}
		}
	}
	for _, s := range oneLine {
		if _, changed := schema.Visible(s, false); changed {
			return true
		}
	}
	_, changed := schema.Visible(req.Incident.Description, true)
	return changed
}

// WaitDecided polls the store until request id is no longer pending or ctx
// ends, and returns the request as last read. It serves the MCP side after a
// client opened the page through URL elicitation.
func WaitDecided(ctx context.Context, s Store, id string, now func() time.Time, every time.Duration) (*Request, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r, err := s.Get(ctx, id)
		if err != nil || r.StateAt(now()) != StatePending {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-t.C:
		}
	}
}
