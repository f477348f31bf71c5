package driver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// TestCodeOf: the classification drivers end their ErrorCode with, for
// each kind of error, wrapped as drivers return them.
func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want schema.Code
	}{
		{"refused change", fmt.Errorf("update: %w", schema.ArgError("status", "no")), schema.CodeInvalidArgument},
		{"HTTP answer", fmt.Errorf("list: %w", &driver.HTTPError{Status: 404}), schema.CodeNotFound},
		{"HTTP 429", &driver.HTTPError{Status: 429}, schema.CodeRateLimited},
		{"out of time", fmt.Errorf("get: %w", context.DeadlineExceeded), schema.CodeDeadlineExceeded},
		{"canceled", context.Canceled, schema.CodeUnavailable},
		{"transport", errors.New("connection refused"), schema.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := driver.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}
