package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/vendors/dlp/dlpsim"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

// start runs incident-sim in-process on free ports and returns its endpoints.
func start(t *testing.T, args ...string) Endpoints {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	free := []string{"-admin-addr", "127.0.0.1:0", "-incidents", "50"}
	for _, k := range registry.Keys() {
		free = append(free, "-"+k+"-addr", "127.0.0.1:0")
	}
	args = append(free, args...)
	go func() { done <- run(ctx, args, pw, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("incident-sim: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var ep Endpoints
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		t.Fatalf("first line %q: %v", line, err)
	}
	return ep
}

func stats(t *testing.T, ep Endpoints) map[string]report {
	t.Helper()
	resp, err := http.Get(ep["admin"] + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]report
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func post(t *testing.T, u string, form url.Values) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST %s: %s", u, resp.Status)
	}
}

// burst sends n requests at once and returns their statuses.
func burst(t *testing.T, n int, do func() (*http.Response, error)) map[int]int {
	t.Helper()
	var (
		mu  sync.Mutex
		out = map[int]int{}
		wg  sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			resp, err := do()
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			out[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func TestStatsCountAttemptsIncludingRefusedOnes(t *testing.T) {
	ep := start(t, "-dlp-latency", "300ms")

	// ESET: sign in (not rate-limited), then 15 requests at once against 10/s.
	resp, err := http.PostForm(ep["eset"]+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	got := burst(t, 15, func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, ep["eset"]+"/v2/incidents?pageSize=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return http.DefaultClient.Do(req)
	})
	e := stats(t, ep)["eset"]
	if e.Attempts != 16 || e.MaxInAnySecond != 15 || e.TooManySent != got[http.StatusTooManyRequests] || e.TooManySent < 5 {
		t.Errorf("eset saw %+v after a burst answered %v; want 16 attempts, 15 limited in one second, >= 5 429s", e, got)
	}

	// DLP: 8 list requests at once against 5 in flight per endpoint.
	resp, err = http.Post(ep["dlp"]+"/v2/auth/token/access", "application/json", strings.NewReader(`{"api_key":"`+dlpsim.DefaultAPIKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	got = burst(t, 8, func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, ep["dlp"]+"/v2/incidents/list", strings.NewReader(`{"page_size":1}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	})
	d := stats(t, ep)["dlp"]
	// Refused attempts leave at once, so at least 6 were in flight together.
	if d.Attempts != 9 || d.PeakConcurrencyByRoute["list"] < 6 || d.TooManySent != 3 || got[http.StatusOK] != 5 {
		t.Errorf("dlp saw %+v after 8 concurrent lists answered %v; want 9 attempts, peak >= 6 on list, 3 429s", d, got)
	}

	// Faults and reset through the admin endpoint.
	post(t, ep["admin"]+"/reset", nil)
	post(t, ep["admin"]+"/fail", url.Values{"vendor": {"kaspersky"}, "status": {"503"}, "n": {"2"}})
	got = burst(t, 2, func() (*http.Response, error) { return http.Get(ep["kaspersky"] + "/xdr/api/v1/incidents") })
	k := stats(t, ep)["kaspersky"]
	if got[http.StatusServiceUnavailable] != 2 || k.Attempts != 2 || k.Statuses[http.StatusServiceUnavailable] != 2 {
		t.Errorf("kaspersky with 2 injected 503s answered %v and reported %+v", got, k)
	}
	if s := stats(t, ep)["eset"]; s.Attempts != 0 || s.MaxInAnySecond != 0 {
		t.Errorf("eset after reset: %+v", s)
	}
}

func TestNoLimitsAndFaultFlag(t *testing.T) {
	ep := start(t, "-no-limits", "-fail", "dlp:502:1")
	resp, err := http.Post(ep["dlp"]+"/v2/auth/token/access", "application/json", strings.NewReader(`{"api_key":"`+dlpsim.DefaultAPIKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	got := burst(t, 80, func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, ep["dlp"]+"/v2/incidents/list", strings.NewReader(`{"page_size":1}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return http.DefaultClient.Do(req)
	})
	if got[http.StatusOK] != 79 || got[http.StatusBadGateway] != 1 {
		t.Errorf("80 requests without limits and one injected 502 answered %v", got)
	}
}

// TestEnvFileExports: -env-file holds export lines a shell sources, naming
// the endpoints the simulators really listen on.
func TestEnvFileExports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim.env")
	ep := start(t, "-env-file", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"export ESET_API_URL='" + ep["eset"] + "'\n", "export KASPERSKY_URL='" + ep["kaspersky"] + "'\n", "export DLP_URL='" + ep["dlp"] + "'\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("env file lacks %q:\n%s", want, got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "export ") || strings.Count(line, "'") != 2 {
			t.Errorf("not a quoted export line: %q", line)
		}
	}
}
