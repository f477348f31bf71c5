//go:build examplevendor

package examplevendor

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
)

// DefaultAPIKey is the one key the simulator accepts.
const DefaultAPIKey = "example-demo-key"

// The simulator's API: a list with cursor paging (newest first), one
// record, and one write, the record's state.
const (
	pathList  = "GET /api/incidents"
	pathGet   = "GET /api/incidents/{id}"
	pathState = "POST /api/incidents/{id}/state"
)

// The vendor's states and severities, as its API spells them.
var (
	states     = []string{"new", "active", "done"}
	severities = []string{"low", "medium", "high", "critical"}
)

// record is the vendor's incident, as its API returns it.
type record struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// listAnswer is a page of the list.
type listAnswer struct {
	Items []record `json:"items"`
	Next  string   `json:"next,omitempty"`
	Total int      `json:"total"`
}

// Simulator is a tiny in-process stand-in for the vendor's API.
type Simulator struct {
	mux *http.ServeMux

	mu       sync.Mutex
	records  []record // newest first
	byID     map[string]int
	failCode int
	failLeft int
	byPath   map[string]int
}

// Stats are the simulator's counters: requests by route.
type Stats struct {
	ByPath map[string]int
}

var titles = []string{"Suspicious sign-in for %s", "Malware blocked on %s", "Unusual upload from %s", "Port scan from %s"}

// NewSimulator makes a simulator of n incidents (200 when n <= 0), the
// newest created just before now.
func NewSimulator(o descriptor.SimOptions) *Simulator {
	n := o.Incidents
	if n <= 0 {
		n = 200
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 7))
	s := &Simulator{byID: map[string]int{}, byPath: map[string]int{}}
	at := now.UTC().Truncate(time.Second)
	for i := range n {
		at = at.Add(-time.Duration(1+rng.IntN(180)) * time.Minute)
		r := record{
			ID:       fmt.Sprintf("ex-%05d", n-i),
			Title:    fmt.Sprintf(titles[rng.IntN(len(titles))], fmt.Sprintf("host-%03d", rng.IntN(40))),
			Severity: severities[rng.IntN(len(severities))],
			State:    states[i%len(states)],
			Created:  at,
		}
		r.Updated = r.Created.Add(time.Duration(rng.IntN(90)) * time.Minute)
		s.byID[r.ID] = len(s.records)
		s.records = append(s.records, r)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc(pathList, s.list)
	s.mux.HandleFunc(pathGet, s.get)
	s.mux.HandleFunc(pathState, s.setState)
	return s
}

// ServeHTTP answers the API, after the bearer key and any failure asked
// for with FailNext.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	s.mu.Lock()
	s.byPath[pattern]++
	fail := 0
	if s.failLeft > 0 {
		s.failLeft--
		fail = s.failCode
	}
	s.mu.Unlock()
	switch {
	case fail != 0:
		answer(w, fail, map[string]string{"message": "failure injected by the simulator"})
	case r.Header.Get("Authorization") != "Bearer "+DefaultAPIKey:
		answer(w, http.StatusUnauthorized, map[string]string{"message": "bad API key"})
	default:
		s.mux.ServeHTTP(w, r)
	}
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Simulator) list(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 || limit > maxPage || from < 0 {
		answer(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("limit must be 1 to %d, cursor a position", maxPage)})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := listAnswer{Items: []record{}, Total: len(s.records)}
	if from < len(s.records) {
		out.Items = append(out.Items, s.records[from:min(from+limit, len(s.records))]...)
	}
	if from+limit < len(s.records) {
		out.Next = strconv.Itoa(from + limit)
	}
	answer(w, http.StatusOK, out)
}

// find is the record the request's path names; without one it answers
// 404 and returns false. The caller holds mu.
func (s *Simulator) find(w http.ResponseWriter, r *http.Request) (*record, bool) {
	i, ok := s.byID[r.PathValue("id")]
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"message": "no such incident"})
		return nil, false
	}
	return &s.records[i], true
}

func (s *Simulator) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.find(w, r); ok {
		answer(w, http.StatusOK, rec)
	}
}

func (s *Simulator) setState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		State string `json:"state"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !slices.Contains(states, body.State) {
		answer(w, http.StatusBadRequest, map[string]string{"message": "state must be new, active or done"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.find(w, r)
	if !ok {
		return
	}
	rec.State = body.State
	rec.Updated = time.Now().UTC().Truncate(time.Second)
	answer(w, http.StatusOK, rec)
}

// FailNext makes the next n API requests answer status.
func (s *Simulator) FailNext(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft = status, n
}

// Stats are the requests the simulator saw, by route.
func (s *Simulator) Stats() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{ByPath: map[string]int{}}
	for k, v := range s.byPath {
		st.ByPath[k] = v
	}
	return st
}

// factStatus maps the vendor's states as its documentation would.
var factStatus = map[string]string{"new": "open", "active": "in_progress", "done": "closed"}

// Facts are the simulator's records in the normalized vocabulary.
func (s *Simulator) Facts() []descriptor.Fact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]descriptor.Fact, len(s.records))
	for i, r := range s.records {
		out[i] = descriptor.Fact{ID: Vendor + ":" + r.ID, Instance: Vendor, Severity: r.Severity, Status: factStatus[r.State],
			Created: r.Created, Updated: r.Updated, Title: r.Title}
	}
	return out
}
