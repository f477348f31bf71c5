package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/internal/redisstate"
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

// TestDeployRedis: the manifests wire the replicas to the Redis of
// deploy/redis/: the Secret's URL names its Service and port, the replicas
// know how many they are, and the Redis keeps nothing on disk.
func TestDeployRedis(t *testing.T) {
	docs := func(path string) []map[string]any {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				return out
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, m)
		}
	}
	get := func(m any, keys ...any) any {
		for _, k := range keys {
			switch k := k.(type) {
			case string:
				m = m.(map[string]any)[k]
			case int:
				m = m.([]any)[k]
			}
		}
		return m
	}
	secret := docs("../../deploy/secret.yaml")[0]
	raw, _ := get(secret, "stringData", "INCIDENT_MCP_REDIS_URL").(string)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "redis" {
		t.Fatalf("INCIDENT_MCP_REDIS_URL %q", raw)
	}
	if _, err := redisstate.Open(raw, redisstate.Options{}); err != nil {
		t.Fatalf("the Secret's URL is refused: %v", err)
	}
	var svcName, redisArgs string
	var svcPort int
	for _, m := range docs("../../deploy/redis/redis.yaml") {
		switch m["kind"] {
		case "Service":
			svcName = get(m, "metadata", "name").(string)
			svcPort = get(m, "spec", "ports", 0, "port").(int)
		case "Deployment":
			args, _ := json.Marshal(get(m, "spec", "template", "spec", "containers", 0, "args"))
			redisArgs = string(args)
		}
	}
	if u.Hostname() != svcName || u.Port() != strconv.Itoa(svcPort) {
		t.Errorf("INCIDENT_MCP_REDIS_URL points at %s, the Redis Service is %s:%d", u.Host, svcName, svcPort)
	}
	if !strings.Contains(redisArgs, `"--save",""`) || !strings.Contains(redisArgs, `"--requirepass"`) {
		t.Errorf("redis args %s: want a password and no snapshots", redisArgs)
	}
	dep := docs("../../deploy/deployment.yaml")[0]
	replicas := get(dep, "spec", "replicas").(int)
	found := false
	for _, e := range get(dep, "spec", "template", "spec", "containers", 0, "env").([]any) {
		if get(e, "name") == "INCIDENT_MCP_REPLICAS" {
			found = true
			if get(e, "value") != strconv.Itoa(replicas) {
				t.Errorf("INCIDENT_MCP_REPLICAS %v, spec.replicas %d", get(e, "value"), replicas)
			}
		}
	}
	if !found {
		t.Error("the Deployment does not set INCIDENT_MCP_REPLICAS")
	}
}
