package drivertest

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// Route is the shape of one vendor route a driver may send for an incident
// id: a method and an escaped path in which {id} stands for the id as one
// path segment ("/v2/incidents/{id}:close").
type Route struct{ Method, Path string }

// IDFuzz describes one driver for FuzzIDs.
type IDFuzz struct {
	// Driver is a driver whose vendor is served behind Log.
	Driver driver.Driver
	Log    *RouteLog
	// Valid is the driver's own id shape: an id it lets reach a request.
	Valid func(id string) bool
	// Routes are every route Get and Update may send; Aside are paths
	// that carry no incident id (a sign-in, a tenant lookup, a list).
	Routes []Route
	Aside  []string
	// Patch is the change Update sends.
	Patch schema.Patch
}

// CheckID calls Get and Update with id and fails t when a request left
// for an id off the driver's shape, when a request's path is not exactly
// one of the routes with id as its {id} segment (no custom verb, no extra
// segment), or when a query's id= is not exactly id. An id off the shape
// must come back not_found naming the argument id. It returns how many
// requests were sent.
func (c *IDFuzz) CheckID(t *testing.T, id string) int {
	t.Helper()
	c.Log.Reset()
	ctx := t.Context()
	_, gerr := c.Driver.Get(ctx, id)
	_, uerr := c.Driver.Update(ctx, id, c.Patch)
	reqs := c.Log.Reset()
	if !c.Valid(id) {
		if len(reqs) > 0 {
			t.Fatalf("id %q is off the driver's shape, yet %d request(s) left: %v", id, len(reqs), reqs)
		}
		for _, err := range []error{gerr, uerr} {
			if e, ok := errors.AsType[*schema.Error](err); !ok || e.Code != schema.CodeNotFound || e.Arg != "id" {
				t.Fatalf("id %q off shape: error %v, want not_found naming id", id, err)
			}
		}
		return 0
	}
	for _, r := range reqs {
		if slices.Contains(c.Aside, r.Path) {
			continue
		}
		if !slices.ContainsFunc(c.Routes, func(rt Route) bool {
			return rt.Method == r.Method && strings.ReplaceAll(rt.Path, "{id}", url.PathEscape(id)) == r.Path
		}) {
			t.Fatalf("id %q sent %s %s, which is not one of its routes %v", id, r.Method, r.Path, c.Routes)
		}
		if ids, ok := r.Query["id"]; ok && (len(ids) != 1 || !strings.EqualFold(ids[0], id)) {
			t.Fatalf("id %q sent %s %s with id=%q", id, r.Method, r.Path, ids)
		}
	}
	return len(reqs)
}

// Sent is one request as it reached the vendor: method, escaped path and
// query.
type Sent struct {
	Method, Path string
	Query        url.Values
}

// RouteLog records the requests that reach a handler.
type RouteLog struct {
	mu   sync.Mutex
	sent []Sent
	next http.Handler
}

// NewRouteLog records every request before h serves it.
func NewRouteLog(h http.Handler) *RouteLog { return &RouteLog{next: h} }

func (l *RouteLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.sent = append(l.sent, Sent{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query()})
	l.mu.Unlock()
	l.next.ServeHTTP(w, r)
}

// Reset returns the requests recorded so far and forgets them.
func (l *RouteLog) Reset() []Sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sent
	l.sent = nil
	return s
}

// IDSeeds are ids that once addressed other operations, or try to.
func IDSeeds(valid string) []string {
	return []string{
		valid, strings.ToUpper(valid), valid + ":close", valid + ":reopen", valid + "/comments", valid + "%2Fcomments",
		valid + "/../" + valid, "../" + valid, valid + "?x=1", valid + "#f", valid + " ", " " + valid, valid + "\x00",
		valid + "\n", "", ":", "/", "%2e%2e", valid[:len(valid)-1], valid + "0", strings.Repeat("a", 101),
		"incident-123", "incident-123:close", "incident-123/x", "00000000-0000-4000-8000-000000000000",
	}
}

// RandomIDs returns n ids drawn from seed, for a test that runs every
// build without -fuzz: a third valid ids of the shape (random hex in
// valid's layout), the rest valid with a character changed, inserted or
// appended from a set that has addressed other routes (':', '/', '%',
// '?', '#', '.', spaces, controls, non-ASCII).
func RandomIDs(valid string, n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 25))
	const hexDigits = "0123456789abcdefABCDEF"
	odd := []string{":", "/", "%2F", "%2f", "%", "?", "#", ".", "..", " ", "\t", "\n", "\x00", "-", "_", "é", "\u202e", ":close", "/comments", ";", "\\", "+", "="}
	out := make([]string, 0, n)
	for len(out) < n {
		b := []byte(valid)
		for i, c := range b {
			if strings.IndexByte(hexDigits, c) >= 0 && rng.IntN(2) == 0 {
				b[i] = hexDigits[rng.IntN(len(hexDigits))]
			}
		}
		id := string(b)
		switch rng.IntN(3) {
		case 0:
		case 1:
			i := rng.IntN(len(id) + 1)
			id = id[:i] + odd[rng.IntN(len(odd))] + id[i:]
		default:
			i := rng.IntN(len(id))
			id = id[:i] + odd[rng.IntN(len(odd))] + id[i+1:]
		}
		out = append(out, id)
	}
	return out
}

// FuzzIDs is a driver's fuzz target over ids: seeded with IDSeeds(valid),
// every input must keep the driver's requests on their routes (CheckID).
func FuzzIDs(f *testing.F, c *IDFuzz, valid string) {
	for _, s := range IDSeeds(valid) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) { c.CheckID(t, id) })
}

// TestIDs checks the seeds and n random ids on every run, so the routes
// hold in a plain `go test` too, and logs how many requests the ids sent.
func TestIDs(t *testing.T, c *IDFuzz, valid string, n int) {
	ids := append(IDSeeds(valid), RandomIDs(valid, n, 1)...)
	sent, shaped := 0, 0
	for _, id := range ids {
		if k := c.CheckID(t, id); k > 0 {
			sent += k
			shaped++
		}
	}
	t.Logf("%d ids: %d of the driver's shape sent %d requests, each on its route; the other %d sent none", len(ids), shaped, sent, len(ids)-shaped)
}
