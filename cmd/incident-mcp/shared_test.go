package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/incident-mcp/incident-mcp/internal/redisstate/redistest"
)

func TestOpenShared(t *testing.T) {
	srv := redistest.Start(t)
	log := slog.New(slog.DiscardHandler)
	env := func(kv ...string) envReader {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return envReader{func(k string) string { return m[k] }}
	}
	t.Run("none", func(t *testing.T) {
		s, err := openShared(env(), "", log)
		if s != nil || err != nil {
			t.Fatalf("no URL: %v %v", s, err)
		}
	})
	for name, tc := range map[string]struct {
		env     envReader
		fileURL string
	}{
		"file":              {env(), srv.URL()},
		"environment":       {env("INCIDENT_MCP_REDIS_URL", srv.URL(), "INCIDENT_MCP_REPLICAS", "3"), ""},
		"environment first": {env("INCIDENT_MCP_REDIS_URL", srv.URL()), "redis://127.0.0.1:1/0"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := openShared(tc.env, tc.fileURL, log)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if first, err := s.Use(t.Context(), "open-shared-"+name, time.Now().Add(time.Minute)); err != nil || !first {
				t.Fatalf("Use through the opened store: %v %v", first, err)
			}
		})
	}
	for name, tc := range map[string]struct {
		env  envReader
		want string
	}{
		"bad replicas": {env("INCIDENT_MCP_REDIS_URL", srv.URL(), "INCIDENT_MCP_REPLICAS", "0"), "INCIDENT_MCP_REPLICAS"},
		"bad url":      {env("INCIDENT_MCP_REDIS_URL", "http://x"), "redis url"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := openShared(tc.env, "", log); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
