package redisstate_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	// go-redis logs every failed dial through a global logger; the outages
	// these tests cause on purpose would flood the output.
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}
