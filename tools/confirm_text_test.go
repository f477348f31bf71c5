package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/incident-mcp/incident-mcp/approval"
	"github.com/incident-mcp/incident-mcp/prompts"
	"github.com/incident-mcp/incident-mcp/tools"
)

// TestConfirmationTextsFollowPolicy: for every combination of confirmation
// paths, with and without an approval page and with four-eyes, the server
// instructions, update_incident's description and input schema, and the
// close_false_positive prompt name exactly the paths that are open: never
// confirmation_token unless the token path is, never approval_id without
// the page.
func TestConfirmationTextsFollowPolicy(t *testing.T) {
	all := []approval.Path{approval.PathElicitation, approval.PathApproval, approval.PathToken}
	checked := 0
	for mask := 1; mask < 1<<len(all); mask++ {
		var paths approval.Paths
		for i, p := range all {
			if mask&(1<<i) != 0 {
				paths = append(paths, p)
			}
		}
		for _, page := range []bool{false, true} {
			for _, approvers := range []int{1, 2} {
				name := paths.String()
				if page {
					name += "+page"
				}
				if approvers > 1 {
					name += "+four-eyes"
				}
				t.Run(name, func(t *testing.T) {
					pol := &approval.Policy{Rule: approval.Rule{Paths: paths, Approvers: approvers}}
					f := newFixtureTB(t, protocolVersions[0], setup{incidents: 5, approval: page, tools: tools.Options{Update: tools.UpdateOptions{Policy: pol}}})
					// What is really open: four-eyes leaves only the page.
					open := map[approval.Path]bool{}
					for _, p := range paths {
						open[p] = (p != approval.PathApproval || page) && (approvers == 1 || p == approval.PathApproval)
					}
					list, err := f.c.ListTools(t.Context(), mcp.ListToolsRequest{})
					if err != nil {
						t.Fatal(err)
					}
					var desc, inputs string
					for _, tool := range list.Tools {
						if tool.Name == tools.UpdateIncident {
							b, _ := json.Marshal(tool.InputSchema)
							desc, inputs = tool.Description, string(b)
						}
					}
					req := mcp.GetPromptRequest{}
					req.Params.Name = "close_false_positive"
					req.Params.Arguments = prompts.Examples("close_false_positive")
					req.Params.Arguments["incident_id"] = openIncident(t, f)["id"].(string)
					pr, err := f.c.GetPrompt(t.Context(), req)
					if err != nil {
						t.Fatal(err)
					}
					prompt := pr.Messages[0].Content.(mcp.TextContent).Text
					texts := map[string]string{"instructions": f.instructions, "description": desc, "input schema": inputs, "prompt": prompt}
					for where, text := range texts {
						for word, on := range map[string]bool{
							"confirmation_token": open[approval.PathToken],
							"approval_id":        open[approval.PathApproval],
						} {
							if got := strings.Contains(text, word); got != on {
								t.Errorf("%s mentions %s: %v, want %v\n%s", where, word, got, on, text)
							}
						}
						if where == "input schema" {
							continue
						}
						if got := strings.Contains(text, "elicitation"); got != open[approval.PathElicitation] {
							t.Errorf("%s mentions elicitation: %v, want %v\n%s", where, got, open[approval.PathElicitation], text)
						}
						checked++
					}
				})
			}
		}
	}
	t.Logf("%d texts checked against their policy", checked)
}
