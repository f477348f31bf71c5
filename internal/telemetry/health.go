package telemetry

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// InstanceState is what /readyz reports for one vendor instance.
type InstanceState struct {
	Instance string `json:"instance"`
	// LastContact is when the vendor last answered (any HTTP status).
	LastContact time.Time `json:"last_contact,omitzero"`
	// LastError is the last transport failure's class ("timeout",
	// "connection", …), cleared by the next answer.
	LastError string `json:"last_error,omitempty"`
	// Breaker is the circuit breaker's state ("closed", "open",
	// "half-open") when a source reports one.
	Breaker string `json:"breaker,omitempty"`
}

// ReadinessSource reports instance states; several sources merge by
// instance name (the vendor transport knows contacts, a circuit breaker
// knows its state).
type ReadinessSource interface {
	InstanceStates() []InstanceState
}

// Health answers /healthz and /readyz.
type Health struct {
	draining atomic.Bool
	// unreconciled counts interrupted writes whose outcome is unknown;
	// reconciled is set once reconciliation at start ran.
	unreconciled atomic.Int64
	reconciled   atomic.Bool
	mu           sync.Mutex
	names        []string
	sources      []ReadinessSource
}

func newHealth() *Health { return &Health{} }

// Register names the configured instances: they bound the instance label
// and are listed by /readyz even before any contact.
func (h *Health) Register(instances ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range instances {
		if !slices.Contains(h.names, n) {
			h.names = append(h.names, n)
		}
	}
}

// AddSource adds a readiness source.
func (h *Health) AddSource(s ReadinessSource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sources = append(h.sources, s)
}

// Drain turns readiness false: the load balancer stops sending new work
// while in-flight calls finish.
func (h *Health) Drain() { h.draining.Store(true) }

func (h *Health) known(instance string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.names, instance)
}

// States merges every source's view of every registered instance.
func (h *Health) States() []InstanceState {
	h.mu.Lock()
	names, sources := slices.Clone(h.names), slices.Clone(h.sources)
	h.mu.Unlock()
	byName := map[string]*InstanceState{}
	out := make([]InstanceState, len(names))
	for i, n := range names {
		out[i].Instance = n
		byName[n] = &out[i]
	}
	for _, s := range sources {
		for _, st := range s.InstanceStates() {
			cur, ok := byName[st.Instance]
			if !ok {
				continue
			}
			if st.LastContact.After(cur.LastContact) {
				cur.LastContact, cur.LastError = st.LastContact, st.LastError
			} else if cur.LastContact.IsZero() && st.LastError != "" {
				cur.LastError = st.LastError
			}
			if st.Breaker != "" {
				cur.Breaker = st.Breaker
			}
		}
	}
	return out
}

// Healthz answers 200 while the process serves.
func (h *Health) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
}

// Readyz answers 503 while draining, else 200, with each instance's last
// contact and breaker state. A vendor outage does not make a replica
// unready: every replica shares the vendor, so taking them all out of the
// load balancer would only turn clear tool errors into connection errors.
func (h *Health) Readyz() http.Handler { return h.readyz(true) }

// ReadyzBrief is Readyz without the instances: what an unauthenticated
// probe on the public listener may learn (ready or draining), no more.
func (h *Health) ReadyzBrief() http.Handler { return h.readyz(false) }

func (h *Health) readyz(full bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		status, code := "ready", http.StatusOK
		if h.draining.Load() {
			status, code = "draining", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		body := readiness{Status: status}
		if full {
			body.Instances = h.States()
			if h.reconciled.Load() {
				// Not a reason to be unready: an operator must look, the
				// replica serves.
				n := h.unreconciled.Load()
				body.UnreconciledWrites = &n
			}
		}
		json.NewEncoder(w).Encode(body)
	})
}

// readiness is the body of the readiness endpoints; the brief one has no
// instances. Its fields are in the order of their JSON names, as the body
// always listed them.
type readiness struct {
	Instances []InstanceState `json:"instances,omitzero"`
	Status    string          `json:"status"`
	// UnreconciledWrites is set once reconciliation at start has run.
	UnreconciledWrites *int64 `json:"unreconciled_writes,omitempty"`
}
