// Package wire holds the small pieces every vendor driver's client shares:
// a sleep that ends with its context, the inversion of a driver's mapping
// table (normalized → vendor from vendor → normalized), and the decoding of
// vendor bodies in one pass, or of only the first records of a list page,
// with a Reader that reads list records without reflection.
package wire

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Invert turns a vendor → normalized table into normalized → vendor. The
// table must be one-to-one; when it is not, which key wins is unspecified.
func Invert[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}
