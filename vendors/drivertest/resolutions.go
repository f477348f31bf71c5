package drivertest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/incident-mcp/incident-mcp/filter"
	"github.com/incident-mcp/incident-mcp/schema"
	"github.com/incident-mcp/incident-mcp/vendors/driver"
)

// testResolutionInfo: the vendor's own resolutions are a vocabulary the
// filter language takes, and a close takes only values records may carry.
func testResolutionInfo(t *testing.T, h Harness) {
	d, _ := h.MakeDriver(t)
	for _, p := range resolutionInfoProblems(d.Info()) {
		t.Error(p)
	}
}

// resolutionInfoProblems lists what is wrong with info's declaration of
// resolutions: a value the filter language refuses, a normalized value
// declared as the vendor's own, or a Write resolution no record could
// carry.
func resolutionInfoProblems(info driver.Info) []string {
	var out []string
	if _, err := filter.NewLanguage(info.Resolutions...); err != nil {
		out = append(out, fmt.Sprintf("Info.Resolutions: %v", err))
	}
	for _, r := range info.Resolutions {
		if r.Normalized() {
			out = append(out, fmt.Sprintf("Info.Resolutions declares %q, a normalized resolution: list only the vendor's own", r))
		}
	}
	for _, r := range info.Write.Resolutions {
		if !r.Normalized() && !slices.Contains(info.Resolutions, r) {
			out = append(out, fmt.Sprintf("Write.Resolutions has %q, neither normalized nor in Info.Resolutions: a close would leave a record with an undeclared resolution", r))
		}
	}
	return out
}

// resolutionProblem says what is wrong with the resolution inc carries:
// "" when it has none, a normalized one or one of info.Resolutions.
func resolutionProblem(info driver.Info, inc *schema.Incident) string {
	r := inc.Resolution
	if r == "" || r.Normalized() || slices.Contains(info.Resolutions, r) {
		return ""
	}
	return fmt.Sprintf("%s: resolution %q is neither normalized (%v) nor declared in Info.Resolutions %v: filters could not name it", inc.ID, r, schema.Resolutions, info.Resolutions)
}
