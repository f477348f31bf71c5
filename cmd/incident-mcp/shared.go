package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/incident-mcp/incident-mcp/internal/redisstate"
	"github.com/incident-mcp/incident-mcp/vendors/descriptor"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// openShared connects to the Redis that replicas share, when one is
// configured: INCIDENT_MCP_REDIS_URL (or _FILE), else the config file's
// redis_url. nil means one process keeps its state in memory.
func openShared(env envReader, fileURL string, log *slog.Logger) (*redisstate.Store, error) {
	url, err := env.secret("INCIDENT_MCP_REDIS_URL")
	if err != nil {
		return nil, err
	}
	if url == "" {
		url = fileURL
	}
	if url == "" {
		return nil, nil
	}
	n := 1
	if s := env.get("INCIDENT_MCP_REPLICAS"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			return nil, fmt.Errorf("INCIDENT_MCP_REPLICAS=%q: want the number of replicas sharing the vendor limits, at least 1", s)
		}
	}
	log = log.With("component", "redis")
	// go-redis reports each failed dial through a process-wide logger; the
	// store warns once per outage, so the library's lines are debug detail.
	redis.SetLogger(redisLog{log})
	store, err := redisstate.Open(url, redisstate.Options{Replicas: n, Logger: log})
	if err != nil {
		return nil, err
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

// sharedLimits hands the drivers the vendor limits shared through Redis, or
// nil (each driver's local limits) without Redis.
func sharedLimits(s *redisstate.Store) descriptor.SharedLimits {
	if s == nil {
		return nil
	}
	return redisLimits{s}
}

type redisLimits struct{ s *redisstate.Store }

func (r redisLimits) Limiter(name string, limit int, per time.Duration) driver.Limiter {
	return r.s.Limiter(name, redisstate.Rate{Limit: limit, Per: per})
}

func (r redisLimits) Semaphore(name string, slots int) driver.Semaphore {
	return r.s.Semaphore(name, slots)
}

// redisCalls is the per-caller request rate shared by every replica: one
// shared limiter per principal, made on first use.
type redisCalls struct {
	s    *redisstate.Store
	rate redisstate.Rate

	mu sync.Mutex
	l  map[string]*redisstate.Limiter
}

func newRedisCalls(s *redisstate.Store, perSecond float64) *redisCalls {
	// The shared limiter admits n requests in any second (a sliding
	// window); a request may wait up to a second for its place, so about
	// one second's worth queues up.
	n := max(int(perSecond+0.5), 1)
	return &redisCalls{s: s, rate: redisstate.Rate{Limit: n, Per: time.Second}, l: map[string]*redisstate.Limiter{}}
}

func (r *redisCalls) Wait(ctx context.Context, principal string) error {
	r.mu.Lock()
	l := r.l[principal]
	if l == nil {
		// A hash, not the name: Redis keys and limiter stats carry no
		// caller names.
		sum := sha256.Sum256([]byte(principal))
		l = r.s.Limiter("caller:"+hex.EncodeToString(sum[:12]), r.rate)
		r.l[principal] = l
	}
	r.mu.Unlock()
	return l.Wait(ctx)
}
