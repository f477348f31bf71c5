package incidents

import (
	"context"
	"time"
)

// NonceStore remembers which confirmations were used, so each confirms at
// most one write. The default lives in memory (one process); a shared store
// (Redis) extends the guarantee across replicas.
type NonceStore interface {
	// Use records nonce as used until expires and reports whether this was
	// its first use. It must be atomic: of concurrent calls with the same
	// nonce, exactly one gets true. An error means the store could not
	// answer; the caller then writes nothing.
	Use(ctx context.Context, nonce string, expires time.Time) (first bool, err error)
}

// Locker serializes the writes to one incident: re-read, compare and write
// happen under its lock, so two confirmations cannot interleave.
type Locker interface {
	// Lock waits (within ctx) for the lock on key and holds it for at most
	// ttl, so a crashed holder cannot block the key for ever. fence grows
	// with every grant of the key. unlock releases it early and is safe to
	// call once.
	Lock(ctx context.Context, key string, ttl time.Duration) (fence int64, unlock func(), err error)
}
