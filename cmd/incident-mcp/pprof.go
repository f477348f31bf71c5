//go:build pprof

package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// A binary built with -tags pprof serves the runtime profiles on
// $INCIDENT_MCP_PPROF_ADDR (loopback only), so `make profile-load` can take a
// CPU profile of the server under load. Release builds leave this file out.
func init() {
	addr := os.Getenv("INCIDENT_MCP_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		slog.Error("INCIDENT_MCP_PPROF_ADDR must be a loopback host:port", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			slog.Error("pprof listener", "err", err)
		}
	}()
}
