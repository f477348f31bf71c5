// Package registry_test checks that every registered vendor reaches the
// model through the generic paths alone: the --demo mode runs its
// simulator and builds its instance, and describe_instances lists it. It
// names no vendor, so a build with a vendor added (a test-only vendor's tag)
// checks that vendor too.
package registry_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/incidents"
	"github.com/incident-mcp/incident-mcp/internal/demo"
	"github.com/incident-mcp/incident-mcp/tools"
	"github.com/incident-mcp/incident-mcp/vendors/registry"
)

func TestEveryVendorInTheDemoAndDescribeInstances(t *testing.T) {
	env, err := demo.Start(demo.Options{Incidents: 10, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	sealer, err := incidents.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incidents.New(env.Instances, sealer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(tools.NewServer(svc, "test", slog.New(slog.DiscardHandler), tools.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "registry-test", Version: "1"}
	if _, err := c.Initialize(t.Context(), init); err != nil {
		t.Fatal(err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = tools.DescribeInstances
	res, err := c.CallTool(t.Context(), req)
	if err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("describe_instances: %v %+v", err, res)
	}
	text := res.Content[0].(mcp.TextContent).Text
	for _, key := range registry.Keys() {
		if _, ok := env.Simulators[key]; !ok {
			t.Errorf("the demo runs no %s simulator", key)
		}
		if !strings.Contains(env.Config, "  - name: "+key+"\n    vendor: "+key+"\n") {
			t.Errorf("the demo configures no %s instance", key)
		}
		// Each instance is named by its vendor key in the demo.
		if !strings.Contains(text, "\n"+key+" ("+key+"): ") && !strings.HasPrefix(text, key+" ("+key+"): ") {
			t.Errorf("describe_instances does not list %s:\n%s", key, text)
		}
	}
	if n := len(registry.Keys()); len(env.Instances) != n {
		t.Errorf("the demo built %d instances for %d vendors", len(env.Instances), n)
	}
}
