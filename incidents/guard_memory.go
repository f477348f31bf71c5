package incidents

import (
	"context"
	"sync"
	"time"
)

// MemoryNonces is the NonceStore of one process: a map of used nonces, each
// forgotten once its confirmation has expired (it can never be presented
// again after that).
type MemoryNonces struct {
	mu   sync.Mutex
	used map[string]time.Time
	ops  map[string]memoryOp
	now  func() time.Time
	// sweepAt is when expired entries are next removed, so a busy store
	// prunes about once per minute rather than on every use.
	sweepAt time.Time
}

// NewMemoryNonces returns an empty store.
func NewMemoryNonces() *MemoryNonces {
	return &MemoryNonces{used: map[string]time.Time{}, ops: map[string]memoryOp{}, now: time.Now}
}

type memoryOp struct {
	body    []byte
	expires time.Time
}

// PutOperation implements OperationStore.
func (m *MemoryNonces) PutOperation(_ context.Context, id string, body []byte, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops[id] = memoryOp{body: body, expires: expires}
	return nil
}

// GetOperation implements OperationStore.
func (m *MemoryNonces) GetOperation(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, ok := m.ops[id]
	if !ok || !m.now().Before(op.expires) {
		return nil, nil
	}
	return op.body, nil
}

// Use implements NonceStore.
func (m *MemoryNonces) Use(_ context.Context, nonce string, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !now.Before(m.sweepAt) {
		for n, exp := range m.used {
			if !now.Before(exp) {
				delete(m.used, n)
			}
		}
		for id, op := range m.ops {
			if !now.Before(op.expires) {
				delete(m.ops, id)
			}
		}
		m.sweepAt = now.Add(time.Minute)
	}
	if exp, seen := m.used[nonce]; seen && now.Before(exp) {
		return false, nil
	}
	m.used[nonce] = expires
	return true, nil
}

// Len is how many nonces the store holds, expired ones not yet pruned
// included.
func (m *MemoryNonces) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.used)
}

// MemoryLocker is the Locker of one process: a lock per key, made when first
// asked for and dropped when nobody holds or waits for it.
type MemoryLocker struct {
	mu    sync.Mutex
	locks map[string]*keyLock
	now   func() time.Time
	// fences counts grants over all keys, so a key's fence keeps growing
	// even after its idle lock was dropped and made again.
	fences int64
}

type keyLock struct {
	ch      chan struct{} // holds a token while the lock is held
	waiters int           // holders and waiters, so an idle lock can go
	fence   int64         // the current holder's
	expires time.Time     // when the current holder's lease ends
}

// NewMemoryLocker returns a locker with no locks held.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{locks: map[string]*keyLock{}, now: time.Now}
}

// Lock implements Locker. A holder that outlives ttl loses the lock to the
// next waiter, whose fence is then higher.
func (m *MemoryLocker) Lock(ctx context.Context, key string, ttl time.Duration) (int64, func(), error) {
	m.mu.Lock()
	l := m.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		m.locks[key] = l
	}
	l.waiters++
	m.mu.Unlock()

	for {
		select {
		case l.ch <- struct{}{}:
			return m.granted(key, l, ttl)
		default:
		}
		m.mu.Lock()
		expired := !l.expires.IsZero() && !m.now().Before(l.expires)
		m.mu.Unlock()
		if expired {
			// The holder's lease ran out: take the lock over.
			return m.granted(key, l, ttl)
		}
		wait := time.NewTimer(m.leaseLeft(l))
		select {
		case l.ch <- struct{}{}:
			wait.Stop()
			return m.granted(key, l, ttl)
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			m.leave(key, l)
			return 0, nil, ctx.Err()
		}
	}
}

func (m *MemoryLocker) leaseLeft(l *keyLock) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(l.expires.Sub(m.now()), time.Millisecond)
}

func (m *MemoryLocker) granted(key string, l *keyLock, ttl time.Duration) (int64, func(), error) {
	m.mu.Lock()
	m.fences++
	l.fence = m.fences
	fence := l.fence
	l.expires = m.now().Add(ttl)
	m.mu.Unlock()
	var once sync.Once
	return fence, func() {
		once.Do(func() {
			m.mu.Lock()
			current := l.fence == fence
			if current {
				l.expires = time.Time{}
			}
			m.mu.Unlock()
			if current {
				// Only the current holder frees the slot; one whose lease
				// was taken over has nothing left to release.
				select {
				case <-l.ch:
				default:
				}
			}
			m.leave(key, l)
		})
	}, nil
}

func (m *MemoryLocker) leave(key string, l *keyLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l.waiters--
	if l.waiters == 0 && m.locks[key] == l {
		delete(m.locks, key)
	}
}
