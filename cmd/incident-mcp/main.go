// Command incident-mcp is an MCP server that lists and reads security
// incidents from ESET Connect (and, as their drivers land, Kaspersky Next XDR
// Expert and Cyberhaven DLP) through one normalized model.
//
// It reads flags and the environment, builds the logger, the drivers, the
// service and the MCP server, and serves stdio (default) or streamable HTTP.
// This is the only place that exits, reads the environment or parses flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "incident-mcp:", err)
		os.Exit(1)
	}
}
