package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/incident-mcp/incident-mcp/audit"
	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/telemetry"
)

// auditCommand reads `incident-mcp audit reconcile [flags] FILE`: the
// server's flags (for its instances) and the audit log to reconcile. It
// returns the flags to parse, with FILE as --audit-log, and whether the
// command was given; any other arguments are returned as they are.
func auditCommand(args []string) ([]string, bool, error) {
	if len(args) == 0 || args[0] != "audit" {
		return args, false, nil
	}
	if len(args) < 3 || args[1] != "reconcile" || strings.HasPrefix(args[len(args)-1], "-") {
		return nil, false, errors.New("usage: incident-mcp audit reconcile [flags] FILE: re-reads from their vendors the writes of the audit log FILE that have no outcome, records what happened to each and prints it")
	}
	file := args[len(args)-1]
	// The log must exist: opening it as the audit log would create it.
	if _, err := os.Stat(file); err != nil { //nolint:gosec // G703: the operator names the file

		return nil, false, fmt.Errorf("audit reconcile: %w", err)
	}
	return append(append([]string{}, args[2:len(args)-1]...), "--audit-log", file), true, nil
}

// reconcileAudit reconciles the writes a crash left without an outcome in
// the audit log at path (incidents.Service.Reconcile) and reports how many
// are still unknown to /readyz and the metrics. It runs before the server
// takes calls, so no new write to those incidents interleaves.
func reconcileAudit(ctx context.Context, svc *incidents.Service, path string, m *telemetry.Metrics, log *slog.Logger) ([]incidents.Verdict, error) {
	recs, torn, err := audit.Read(path)
	if err != nil {
		return nil, fmt.Errorf("reconcile the audit log: %w", err)
	}
	pending := audit.Pending(recs)
	verdicts := svc.Reconcile(ctx, pending)
	unknown := 0
	for _, v := range verdicts {
		if v.Outcome == audit.Unknown {
			unknown++
		}
	}
	m.SetUnreconciled(unknown)
	if len(pending) > 0 {
		log.Warn("audit log: writes a crash interrupted were reconciled", "path", path, "interrupted", len(pending), "unknown", unknown, "torn_lines", torn)
	}
	return verdicts, nil
}

// printVerdicts writes one JSON line per reconciled write, then a summary.
func printVerdicts(w io.Writer, verdicts []incidents.Verdict) error {
	enc := json.NewEncoder(w)
	by := map[string]int{}
	for _, v := range verdicts {
		by[v.Outcome]++
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return enc.Encode(map[string]any{"reconciled": len(verdicts), "by_outcome": by})
}

// cmpErr returns the first non-nil error.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
