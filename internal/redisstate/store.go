package redisstate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every error of a Redis that could not answer.
var ErrUnavailable = errors.New("shared state (Redis) unavailable")

// Options configure a Store.
type Options struct {
	// Prefix starts every key, so several deployments can share one Redis;
	// "incident-mcp:" when empty.
	Prefix string
	// Replicas is N, the number of replicas sharing the vendor limits: while
	// Redis is away each replica allows itself 1/N of each limit. 1 when
	// zero.
	Replicas int
	// ProbeInterval is how often a limiter or semaphore running on its local
	// fallback tries Redis again; 250ms when zero.
	ProbeInterval time.Duration
	// SemaphoreLease is how long a concurrency slot outlives the last
	// renewal of its holder, the time a crashed replica keeps a slot; 15s
	// when zero. Holders renew every third of it.
	SemaphoreLease time.Duration
	Logger         *slog.Logger
}

// Store is a connection to the shared Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	n      int
	probe  time.Duration
	lease  time.Duration
	log    *slog.Logger
	// instance tells this Store's entries in shared schedules from other
	// replicas': random, made at New.
	instance string

	mu     sync.Mutex
	limits map[string]interface{ Stats() LimiterStats }
}

// Open connects to the Redis at url: redis://[user:password@]host:port/db,
// or rediss:// for TLS. It does not fail when Redis is down (replicas start
// in any order); it fails on a URL it cannot use.
func Open(url string, o Options) (*Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// Fail fast: a limiter waiting seconds for a dead Redis stalls every
	// read, and a write refused quickly is better than one refused late.
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	return New(redis.NewClient(opt), o), nil
}

// New builds a Store over an existing client.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = "incident-mcp:"
	}
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 250 * time.Millisecond
	}
	if o.SemaphoreLease <= 0 {
		o.SemaphoreLease = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{rdb: rdb, prefix: o.Prefix, n: o.Replicas, probe: o.ProbeInterval, lease: o.SemaphoreLease, log: o.Logger, instance: rand.Text()[:12]}
}

// Stats returns the counters of every limiter ("rate:<name>") and
// semaphore ("sem:<name>") made from s, for a metrics package: grants
// through Redis and through the local fallback, outages, and whether each
// runs on its fallback now.
func (s *Store) Stats() map[string]LimiterStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]LimiterStats, len(s.limits))
	for k, l := range s.limits {
		out[k] = l.Stats()
	}
	return out
}

func (s *Store) register(key string, l interface{ Stats() LimiterStats }) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limits == nil {
		s.limits = map[string]interface{ Stats() LimiterStats }{}
	}
	s.limits[key] = l
}

// Ping tells whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// key builds a key; the braces are a Redis Cluster hash tag, so the keys one
// script touches live on one node.
func (s *Store) key(kind, name string) string {
	return s.prefix + kind + ":{" + name + "}"
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
