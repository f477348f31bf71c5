package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Handlers are the operational endpoints of the admin listener; on the
// public listener only /healthz and ReadyzBrief go without authentication.
func (m *Metrics) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/metrics": m.Handler(),
		"/healthz": m.health.Healthz(),
		"/readyz":  m.health.Readyz(),
	}
}

// ServeAdmin serves handlers on their own listener (--metrics-addr) until
// ctx ends.
func ServeAdmin(ctx context.Context, ln net.Listener, handlers map[string]http.Handler, log *slog.Logger) error {
	mux := http.NewServeMux()
	for p, h := range handlers {
		mux.Handle(p, h)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Info("serving metrics and health", "url", "http://"+ln.Addr().String()+"/metrics")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
