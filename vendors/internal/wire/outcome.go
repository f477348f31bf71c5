package wire

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"sync/atomic"

	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// WriteTrace follows one vendor write through the HTTP client, to tell a
// write the vendor never received from one whose answer was lost.
type WriteTrace struct {
	current atomic.Bool // the request being written carries credentials
	sent    atomic.Bool // an authenticated request was fully written
}

// TraceWrite returns ctx instrumented to notice when a write request has
// been written to the wire. Only requests carrying an Authorization header
// count, so a token exchange made on the way (ESET, DLP) is not mistaken
// for the write.
func TraceWrite(ctx context.Context) (context.Context, *WriteTrace) {
	w := &WriteTrace{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { w.current.Store(false) },
		WroteHeaderField: func(key string, _ []string) {
			if key == "Authorization" {
				w.current.Store(true)
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil && w.current.Load() {
				w.sent.Store(true)
			}
		},
	}), w
}

// Outcome classifies err, the result of the traced write: when the request
// was sent and the vendor's answer never came (no HTTP status: a reset, a
// timeout, a truncated body), the vendor may have applied it, and the error
// wraps driver.ErrOutcomeUnknown. A vendor's HTTP answer, or a failure
// before sending, is returned as it is.
func (w *WriteTrace) Outcome(err error) error {
	if err == nil || !w.sent.Load() || errors.Is(err, driver.ErrOutcomeUnknown) {
		return err
	}
	if _, answered := errors.AsType[*driver.HTTPError](err); answered {
		return err
	}
	return fmt.Errorf("%w: %w", driver.ErrOutcomeUnknown, err)
}
