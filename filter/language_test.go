package filter

import (
	"slices"
	"strings"
	"testing"

	"github.com/incident-mcp/incident-mcp/schema"
)

// TestLanguageVocabulary: a language accepts exactly the normalized
// resolutions and the extra ones it was built with, as literals and as
// constants; the normalized language refuses a vendor's value like any
// misspelling, listing the values that exist.
func TestLanguageVocabulary(t *testing.T) {
	dlpLike, err := NewLanguage("invalid_destination_not_risk", "invalid_user_exempt", "invalid_other")
	if err != nil {
		t.Fatal(err)
	}
	madeUp, err := NewLanguage("benign_by_policy", schema.ResolutionMerged, "benign_by_policy")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewLanguage()
	if err != nil {
		t.Fatal(err)
	}
	inc := func(r schema.Resolution) *schema.Incident {
		return &schema.Incident{ID: "x:1", Title: "t", Status: schema.StatusClosed, Resolution: r, CreatedAt: benchNow}
	}
	tests := []struct {
		name    string
		lang    *Language
		where   string
		refused string              // substring of the compile error; "" when it compiles
		matches []schema.Resolution // with refused "", resolutions it must match
		misses  []schema.Resolution // and must not
	}{
		{"normalized literal", plain, `incident.resolution == "false_positive"`, "", []schema.Resolution{"false_positive"}, []schema.Resolution{"invalid_other"}},
		{"vendor literal, no such vendor", plain, `incident.resolution == "invalid_other"`,
			`incident.resolution is never "invalid_other"; its values are "true_positive", "false_positive", "suspicious", "low_priority", "merged"`, nil, nil},
		{"vendor constant, no such vendor", plain, `incident.resolution == INVALID_OTHER`, "undeclared reference to 'INVALID_OTHER'", nil, nil},
		{"vendor literal", dlpLike, `incident.resolution == "invalid_other"`, "", []schema.Resolution{"invalid_other"}, []schema.Resolution{"invalid_user_exempt", "true_positive", ""}},
		{"vendor constant", dlpLike, `incident.resolution in [INVALID_USER_EXEMPT, TRUE_POSITIVE]`, "", []schema.Resolution{"invalid_user_exempt", "true_positive"}, []schema.Resolution{"invalid_other"}},
		{"another vendor's value", dlpLike, `incident.resolution != "benign_by_policy"`,
			`its values are "true_positive", "false_positive", "suspicious", "low_priority", "merged", "invalid_destination_not_risk", "invalid_user_exempt", "invalid_other"`, nil, nil},
		{"made-up vendor literal", madeUp, `incident.resolution == "benign_by_policy"`, "", []schema.Resolution{"benign_by_policy"}, []schema.Resolution{"merged"}},
		{"made-up vendor constant", madeUp, `incident.resolution == BENIGN_BY_POLICY`, "", []schema.Resolution{"benign_by_policy"}, []schema.Resolution{"invalid_other"}},
		{"made-up vendor, DLP value", madeUp, `incident.resolution == "invalid_other"`, `its values are "true_positive", "false_positive", "suspicious", "low_priority", "merged", "benign_by_policy"`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.lang.Compile(schema.Filter{}, tc.where, benchNow)
			if tc.refused != "" {
				if err == nil || schema.CodeOf(err) != schema.CodeInvalidArgument || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Compile(%q) = %v, want an invalid_argument with %q", tc.where, err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.matches {
				if ok, err := p.Match(t.Context(), inc(r)); !ok || err != nil {
					t.Errorf("Match(resolution %q) = %v, %v; want true", r, ok, err)
				}
			}
			for _, r := range tc.misses {
				if ok, err := p.Match(t.Context(), inc(r)); ok || err != nil {
					t.Errorf("Match(resolution %q) = %v, %v; want false", r, ok, err)
				}
			}
		})
	}
	if got, want := madeUp.Resolutions(), append(slices.Clone(schema.Resolutions), "benign_by_policy"); !slices.Equal(got, want) {
		t.Errorf("Resolutions() = %v, want %v", got, want)
	}
}

// TestLanguageCacheIsItsOwn: a `where` one language compiled and cached is
// still refused by a language without the vendor.
func TestLanguageCacheIsItsOwn(t *testing.T) {
	with, err := NewLanguage("invalid_other")
	if err != nil {
		t.Fatal(err)
	}
	where := `incident.resolution == "invalid_other" // cache per language`
	if _, err := with.Compile(schema.Filter{}, where, benchNow); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(schema.Filter{}, where, benchNow); err == nil || !strings.Contains(err.Error(), "is never") {
		t.Fatalf("the normalized language compiled %q from another language's cache: %v", where, err)
	}
}

func TestNewLanguageRefuses(t *testing.T) {
	for _, tc := range []struct {
		r    schema.Resolution
		want string
	}{
		{"", "lower-case identifier"},
		{"Not a threat", "lower-case identifier"},
		{"benign-positive", "lower-case identifier"},
		{"9lives", "lower-case identifier"},
		{"high", "severity or status"},
		{"in_progress", "severity or status"},
	} {
		t.Run(string(tc.r), func(t *testing.T) {
			if _, err := NewLanguage("fine_value", tc.r); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), string(tc.r)) {
				t.Errorf("NewLanguage(%q) = %v, want an error with %q", tc.r, err, tc.want)
			}
		})
	}
}
