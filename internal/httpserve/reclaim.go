package httpserve

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// reclaimAfter is how many ended sessions make a reclaim worthwhile.
const reclaimAfter = 256

// reclaimMemory returns the memory of reaped sessions to the OS. After a
// burst of abandoned sessions is reaped the heap is mostly garbage, but
// with no new allocation no GC runs (the runtime forces one only every two
// minutes) and the process keeps its peak RSS, which is what a container
// memory limit counts. So when many sessions ended since the last check,
// one forced collection hands the pages back, once the sweep is over.
// Checks run every half TTL.
func reclaimMemory(ctx context.Context, s *server.MCPServer, ttl time.Duration) {
	h := s.GetHooks()
	if h == nil {
		h = &server.Hooks{}
		server.WithHooks(h)(s)
	}
	var ended atomic.Int64
	h.AddOnUnregisterSession(func(context.Context, server.ClientSession) { ended.Add(1) })
	every := min(max(ttl/2, time.Second), time.Minute)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var seen int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Wait for the sweep to be over: nothing ended since the last tick.
				n := ended.Load()
				if n >= reclaimAfter && n == seen {
					ended.Add(-n)
					n = 0
					debug.FreeOSMemory()
				}
				seen = n
			}
		}
	}()
}
