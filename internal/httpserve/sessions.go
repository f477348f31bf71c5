package httpserve

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/caller"
)

// SessionStore remembers which principal created each MCP session id. The
// in-memory one serves one process; a shared one (Redis) lets replicas
// behind one load balancer honour each other's sessions.
type SessionStore interface {
	// Create records id as owned by owner (a caller.Identity Key) for ttl,
	// unless owner already has max sessions open: then ok is false.
	Create(ctx context.Context, id, owner string, max int, ttl time.Duration) (ok bool, err error)
	// Owner returns the owner of id and extends its life by ttl; "" when
	// id was never issued, was deleted or expired.
	Owner(ctx context.Context, id string, ttl time.Duration) (string, error)
	// Delete forgets id for good.
	Delete(ctx context.Context, id string) error
}

// errNoSuchSession is the one answer for a session id that was never issued,
// was deleted, or belongs to another principal: the spec's 404 for an
// unknown session, so a guesser learns nothing about other callers.
const noSuchSession = "Session not found: start a new one with initialize"

// sessionGuard binds MCP sessions to the principal that created them. It
// checks every request that names a session before mcp-go sees it, mints
// the id of a new session itself (mcp-go takes it through Generate), and
// caps the sessions one principal may hold open.
type sessionGuard struct {
	store SessionStore
	max   int
	ttl   time.Duration
	log   *slog.Logger
}

type issuedKey struct{}

// wrap checks the session of each request to the MCP endpoint.
func (g *sessionGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			// 2026-07-28 requests have no protocol-level session; mcp-go
			// ignores the header and serves each request on its own.
			next.ServeHTTP(w, r)
			return
		}
		id, _ := caller.From(r.Context())
		owner := id.Key()
		sid := r.Header.Get(server.HeaderKeySessionID)
		if sid != "" {
			got, err := g.store.Owner(r.Context(), sid, g.ttl)
			if err != nil {
				g.log.Error("session store unavailable: refusing the request", "err", err)
				http.Error(w, "sessions cannot be checked right now; try again shortly", http.StatusServiceUnavailable)
				return
			}
			if got == "" || got != owner {
				if got != "" {
					g.log.Warn("request with another principal's session refused", "caller", id.Display(), "method", r.Method)
				}
				http.Error(w, noSuchSession, http.StatusNotFound)
				return
			}
			if r.Method == http.MethodDelete {
				if err := g.store.Delete(r.Context(), sid); err != nil {
					g.log.Error("session store unavailable: session not deleted", "err", err)
					http.Error(w, "the session could not be ended right now; try again shortly", http.StatusServiceUnavailable)
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		// No session named: an initialize (POST) or a GET stream mcp-go
		// would open under a fresh id. Anything else mcp-go refuses itself.
		if r.Method == http.MethodDelete || (r.Method == http.MethodPost && !isInitialize(r)) {
			next.ServeHTTP(w, r)
			return
		}
		sid = newSessionID()
		limit := g.max
		if id.Method == caller.MethodNone {
			// Without authentication every session is one principal's:
			// a per-caller cap would be a server-wide one.
			limit = -1
		}
		ok, err := g.store.Create(r.Context(), sid, owner, limit, g.ttl)
		if err != nil {
			g.log.Error("session store unavailable: refusing a new session", "err", err)
			http.Error(w, "sessions cannot be opened right now; try again shortly", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			g.log.Warn("session cap reached", "caller", id.Display(), "max", g.max)
			w.Header().Set("Retry-After", strconv.Itoa(int(g.ttl.Seconds())))
			http.Error(w, fmt.Sprintf("too many open sessions for this caller (the limit is %d): end sessions you no longer use with DELETE, or wait until idle ones expire", g.max), http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), issuedKey{}, sid)))
	})
}

// isInitialize peeks at the JSON-RPC method of a body already in memory
// (limitBody read it).
func isInitialize(r *http.Request) bool {
	if r.GetBody == nil {
		return false
	}
	body, err := r.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	var msg struct {
		Method string `json:"method"`
	}
	return json.NewDecoder(body).Decode(&msg) == nil && msg.Method == string(mcp.MethodInitialize)
}

// newSessionID has the form mcp-go's clients expect and 122 random bits.
func newSessionID() string {
	return "mcp-session-" + rand.Text()
}

// ResolveSessionIdManager implements server.SessionIdManagerResolver: the
// manager of one request hands mcp-go the id the guard minted for it.
func (g *sessionGuard) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	m := &boundManager{g: g}
	if r != nil {
		m.issued, _ = r.Context().Value(issuedKey{}).(string)
	}
	return m
}

// boundManager is what mcp-go asks about sessions. The guard has already
// checked ownership of every id that reaches it, so Validate only says no
// to what it cannot know about; Terminate is the idle sweeper's (or a
// DELETE's, already done) and forgets the id.
type boundManager struct {
	g      *sessionGuard
	issued string
}

func (m *boundManager) Generate() string {
	if m.issued != "" {
		return m.issued
	}
	// Not minted by the guard: an id nobody owns, so it cannot be used.
	return newSessionID()
}

func (m *boundManager) Validate(sessionID string) (bool, error) {
	if sessionID == "" {
		return false, errors.New("no session id")
	}
	return false, nil
}

func (m *boundManager) Terminate(sessionID string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return false, m.g.store.Delete(ctx, sessionID)
}

// MemSessions is the SessionStore of one process.
type MemSessions struct {
	mu      sync.Mutex
	now     func() time.Time
	owners  map[string]memSession
	byOwner map[string]int
}

type memSession struct {
	owner   string
	expires time.Time
}

// NewMemSessions returns an empty in-memory session store.
func NewMemSessions() *MemSessions {
	return &MemSessions{now: time.Now, owners: map[string]memSession{}, byOwner: map[string]int{}}
}

// Create implements SessionStore.
func (m *MemSessions) Create(_ context.Context, id, owner string, max int, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if max > 0 && m.byOwner[owner] >= max {
		m.sweep(now)
		if m.byOwner[owner] >= max {
			return false, nil
		}
	}
	m.owners[id] = memSession{owner: owner, expires: now.Add(ttl)}
	m.byOwner[owner]++
	return true, nil
}

// Owner implements SessionStore.
func (m *MemSessions) Owner(_ context.Context, id string, ttl time.Duration) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.owners[id]
	now := m.now()
	if !ok {
		return "", nil
	}
	if !now.Before(s.expires) {
		m.forget(id, s)
		return "", nil
	}
	s.expires = now.Add(ttl)
	m.owners[id] = s
	return s.owner, nil
}

// Delete implements SessionStore.
func (m *MemSessions) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.owners[id]; ok {
		m.forget(id, s)
	}
	return nil
}

// Open is how many sessions owner holds, for tests and metrics.
func (m *MemSessions) Open(owner string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byOwner[owner]
}

func (m *MemSessions) forget(id string, s memSession) {
	delete(m.owners, id)
	if m.byOwner[s.owner]--; m.byOwner[s.owner] <= 0 {
		delete(m.byOwner, s.owner)
	}
}

// sweep forgets expired sessions; the caller holds m.mu.
func (m *MemSessions) sweep(now time.Time) {
	for id, s := range m.owners {
		if !now.Before(s.expires) {
			m.forget(id, s)
		}
	}
}
