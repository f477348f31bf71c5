// Package approvaltest plays an approver on the approval page over plain
// HTTP, for tests that need a human decision without a browser: it signs
// in, reads the page's form token and posts the decision, as the page's own
// forms do.
package approvaltest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Approver is one signed-in approver with its own cookies.
type Approver struct {
	c *http.Client
}

// SignIn opens pageURL (an /approve/{id} page), signs in with name and
// password and returns the approver with the page's HTML.
func SignIn(pageURL, name, password string) (*Approver, string, error) {
	jar, _ := cookiejar.New(nil)
	a := &Approver{c: &http.Client{Jar: jar}}
	code, body, err := a.get(pageURL)
	if err != nil {
		return nil, "", err
	}
	tok := csrfField.FindStringSubmatch(body)
	if code != http.StatusOK || tok == nil {
		return nil, body, fmt.Errorf("sign-in form: status %d", code)
	}
	u, _ := url.Parse(pageURL)
	login := *u
	login.Path = "/approval/login"
	code, body, err = a.post(login.String(), url.Values{"csrf": {tok[1]}, "next": {u.Path}, "name": {name}, "password": {password}})
	if err != nil {
		return nil, "", err
	}
	if code != http.StatusOK || !strings.Contains(body, "Signed in as") {
		return nil, body, fmt.Errorf("sign-in: status %d", code)
	}
	return a, body, nil
}

// Token reads the form token the page at pageURL gives this approver.
func (a *Approver) Token(pageURL string) (string, error) {
	code, body, err := a.get(pageURL)
	if err != nil {
		return "", err
	}
	tok := csrfField.FindStringSubmatch(body)
	if tok == nil {
		return "", fmt.Errorf("the page offers no decision (status %d)", code)
	}
	return tok[1], nil
}

// Post sends a decision with the given form token and returns the answer.
func (a *Approver) Post(pageURL, token string, approve bool) (int, string, error) {
	decision := "reject"
	if approve {
		decision = "approve"
	}
	return a.post(pageURL, url.Values{"csrf": {token}, "decision": {decision}})
}

// Decide approves (approve) or rejects the request at pageURL, as pressing
// the page's button does.
func (a *Approver) Decide(pageURL string, approve bool) (int, string, error) {
	tok, err := a.Token(pageURL)
	if err != nil {
		return 0, "", err
	}
	return a.Post(pageURL, tok, approve)
}

// SignedIn tells whether the page at pageURL greets this approver as
// signed in.
func (a *Approver) SignedIn(pageURL string) (bool, error) {
	_, body, err := a.get(pageURL)
	return err == nil && strings.Contains(body, "Signed in as"), err
}

// SignOut presses "Sign out" on the server that serves pageURL.
func (a *Approver) SignOut(pageURL string) error {
	u, err := url.Parse(pageURL)
	if err != nil {
		return err
	}
	u.Path, u.RawQuery = "/approval/logout", ""
	code, body, err := a.post(u.String(), url.Values{})
	if err == nil && (code != http.StatusOK || !strings.Contains(body, "Signed out")) {
		err = fmt.Errorf("sign out: status %d: %s", code, body)
	}
	return err
}

// Approve signs in and approves in one go.
func Approve(pageURL, name, password string) error {
	a, _, err := SignIn(pageURL, name, password)
	if err != nil {
		return err
	}
	code, body, err := a.Decide(pageURL, true)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("approve: status %d: %s", code, body)
	}
	return err
}

func (a *Approver) get(u string) (int, string, error) {
	resp, err := a.c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// post sends a form from the page's own origin, as a browser does.
func (a *Approver) post(u string, form url.Values) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	pu, _ := url.Parse(u)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pu.Scheme+"://"+pu.Host)
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
