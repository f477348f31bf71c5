package evals

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCommentReadsBack: on each vendor that keeps comments, a comment
// written through update_incident (preview, then the confirmed call) reads
// back through get_incident with include comments, fenced, as the newest.
// Kaspersky keeps none, and says so.
func TestCommentReadsBack(t *testing.T) {
	env := startEnv(t)
	for _, tc := range []struct {
		instance string
		change   map[string]any
	}{
		{"eset", map[string]any{}},
		// DLP keeps a comment as the close note: it goes with a close.
		{"dlp", map[string]any{"status": "closed", "resolution": "false_positive"}},
	} {
		t.Run(tc.instance, func(t *testing.T) {
			list := env.call(t, "list_incidents", map[string]any{"instance": tc.instance, "status": []string{"open"}, "page_size": 1})
			incs, _ := list.Structured["incidents"].([]any)
			if len(incs) == 0 {
				t.Fatalf("no open %s incident: %s", tc.instance, list.Text)
			}
			id := incs[0].(map[string]any)["id"].(string)
			text := fmt.Sprintf("read-back check %d", time.Now().UnixNano())
			args := map[string]any{"id": id, "comment": text}
			for k, v := range tc.change {
				args[k] = v
			}
			pv := env.call(t, "update_incident", args)
			tok, _ := pv.Structured["confirmation_token"].(string)
			if pv.IsError || tok == "" {
				t.Fatalf("preview: %s", pv.Text)
			}
			args["confirmation_token"] = tok
			if w := env.call(t, "update_incident", args); w.IsError {
				t.Fatalf("write: %s", w.Text)
			}
			got := env.call(t, "get_incident", map[string]any{"id": id, "include": []string{"comments"}})
			cs, _ := got.Structured["comments"].(map[string]any)
			items, _ := cs["items"].([]any)
			if len(items) == 0 || items[len(items)-1].(map[string]any)["text"] != text {
				t.Fatalf("comments after writing %q: %v", text, cs)
			}
			if !strings.Contains(got.Text, "⟦"+text+"⟧") {
				t.Errorf("the comment is not fenced in the text:\n%s", got.Text)
			}
		})
	}
	got := env.call(t, "get_incident", map[string]any{"id": Newest(Facts(env.Demo), []string{"kaspersky"}).ID, "include": []string{"comments"}})
	if !strings.Contains(got.Text, "kaspersky keeps no comments") {
		t.Errorf("kaspersky comments: %s", got.Text)
	}
}
