package tools

import (
	"log/slog"

	"github.com/mark3labs/mcp-go/server"

	"github.com/incident-mcp/incident-mcp/incidents"
)

// NewServer returns the MCP server with every tool over svc.
func NewServer(svc *incidents.Service, version string, log *slog.Logger) *server.MCPServer {
	s := server.NewMCPServer("incident-mcp", version,
		server.WithToolCapabilities(false),
		server.WithInstructions(Instructions),
		server.WithRecovery(),
	)
	s.AddTools(Tools(svc, log)...)
	return s
}
