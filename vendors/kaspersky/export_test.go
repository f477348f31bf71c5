package kaspersky

import (
	"context"
	"time"
)

// SetSleep replaces the retry backoff's sleep, so tests need not wait.
func SetSleep(d *Driver, sleep func(context.Context, time.Duration) error) { d.c.sleep = sleep }
