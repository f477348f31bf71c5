package httpserve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// checkOrigin refuses browser requests from origins not allowed (DNS
// rebinding and cross-site requests): 403. Requests without an Origin
// header come from non-browser clients and pass.
func checkOrigin(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && !originAllowed(o, allowed) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed: with no allow-list only loopback origins pass.
func originAllowed(origin string, allowed []string) bool {
	if len(allowed) == 0 {
		u, err := url.Parse(origin)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopbackHost(u.Hostname())
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	return false
}

// checkHost refuses requests whose Host is not in the allow-list: 403.
func checkHost(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		for _, a := range allowed {
			if strings.EqualFold(a, host) || strings.EqualFold(a, r.Host) {
				next.ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "host not allowed", http.StatusForbidden)
	})
}

// limitBody answers 413 for a declared length over max before reading a
// byte; otherwise it reads at most max bytes under a read deadline (a
// trickled body cannot hold the connection), then lifts the deadline so a
// long tool call is not cancelled by it, and hands the body on in memory.
func limitBody(max int64, readTimeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too large: the limit is "+strconv.FormatInt(max, 10)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if readTimeout > 0 {
			_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "request body too large: the limit is "+strconv.FormatInt(max, 10)+" bytes", http.StatusRequestEntityTooLarge)
				return
			}
			w.Header().Set("Connection", "close")
			http.Error(w, "could not read the request body in time", http.StatusRequestTimeout)
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// streams spares the long-lived SSE GET streams from the server's write
// timeout (heartbeats and the idle-session TTL bound them instead) and ends
// them when shutdown begins, so they do not hold the grace period.
func streams(shutdown context.Context, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(shutdown, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isLoopbackHost reports whether host (no port) names the loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackAddr reports whether a listen address binds loopback only.
// An empty host (":8080") binds every interface.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return isLoopbackHost(host)
}

// loopbackHosts is the Host allow-list of a loopback bind without one: a
// page served on 127.0.0.1 must not answer a rebinding attacker's name.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1", "[::1]"}

// HostGuard is the Host allow-list for a listener of its own (the stdio
// mode's approval page): hosts, or loopback names when hosts is empty.
func HostGuard(hosts []string, h http.Handler) http.Handler {
	if len(hosts) == 0 {
		hosts = loopbackHosts
	}
	return checkHost(hosts, h)
}
