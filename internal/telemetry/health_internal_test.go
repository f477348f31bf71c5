package telemetry

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadinessBodies: the authenticated probe names each instance and,
// once reconciliation ran, the unreconciled writes; the brief one says
// ready or draining and nothing else.
func TestReadinessBodies(t *testing.T) {
	h := newHealth()
	h.Register("eset")
	body := func(brief bool) (int, string) {
		rec := httptest.NewRecorder()
		hd := h.Readyz()
		if brief {
			hd = h.ReadyzBrief()
		}
		hd.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	if code, b := body(false); code != 200 || b != `{"instances":[{"instance":"eset"}],"status":"ready"}` {
		t.Errorf("readyz = %d %s", code, b)
	}
	h.unreconciled.Store(2)
	h.reconciled.Store(true)
	if _, b := body(false); !strings.HasSuffix(b, `"status":"ready","unreconciled_writes":2}`) {
		t.Errorf("readyz after reconciliation = %s", b)
	}
	h.Drain()
	if code, b := body(true); code != 503 || b != `{"status":"draining"}` {
		t.Errorf("brief readyz = %d %s", code, b)
	}
}
