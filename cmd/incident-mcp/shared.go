package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/vendors/dlp"
)

// openShared connects to the Redis that replicas share, when one is
// configured; nil means one process keeps its state in memory.
func openShared(url string, replicas string, log *slog.Logger) (*redisstate.Store, error) {
	if url == "" {
		return nil, nil
	}
	n := 1
	if replicas != "" {
		var err error
		if n, err = strconv.Atoi(replicas); err != nil || n < 1 {
			return nil, fmt.Errorf("INCIDENT_MCP_REPLICAS=%q: want the number of replicas sharing the vendor limits, at least 1", replicas)
		}
	}
	log = log.With("component", "redis")
	// go-redis reports each failed dial through a process-wide logger; the
	// store warns once per outage, so the library's lines are debug detail.
	redis.SetLogger(redisLog{log})
	store, err := redisstate.Open(url, redisstate.Options{Replicas: n, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("INCIDENT_MCP_REDIS_URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		log.Warn("Redis does not answer yet: writes are refused and vendor limits run at this replica's share until it does", "replicas", n, "err", err)
	} else {
		log.Info("sharing confirmations, write locks and vendor limits through Redis", "replicas", n)
	}
	return store, nil
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// Vendor limits per credential that replicas share. The drivers keep the
// same numbers for their local limiters; here they become shared schedules.
var (
	esetRate = redisstate.Rate{Limit: 10, Per: time.Second}
	dlpRate  = redisstate.Rate{Limit: dlp.DefaultRateLimit, Per: dlp.DefaultRateWindow}
)
