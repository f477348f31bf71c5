// Command incident-mcp is an MCP server that lists, reads, counts and
// updates security incidents in ESET Connect, Kaspersky Next XDR Expert and
// Cyberhaven DLP through one normalized model.
//
// It parses flags and reads the environment (or a --config file), builds the
// logger, the vendor instances (or, with --demo, simulators on loopback), the
// audit log, the incidents service and the MCP server with its tools and
// prompts, and serves stdio (default) or streamable HTTP (--http).
// --check-config validates a configuration file and exits. This is the only
// package that exits, reads the environment or parses flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultGCPercent replaces Go's GOGC=100 unless GOGC is set. The server's
// live heap is a few megabytes while a list call allocates a few hundred
// kilobytes, so at 100 the collector ran often and took about a third of the
// CPU of a call (make bench-load, ESET, 16 clients, one run: 1.8 ms of CPU
// per call at 100, 1.1 ms at 400). At 400 the RSS under load stayed within
// about 45-90 MB; GOMEMLIMIT bounds it where memory is tight.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "incident-mcp:", err)
		os.Exit(1)
	}
}
