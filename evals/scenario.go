package evals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Scenario is one analyst question, the calls a competent assistant makes
// for it, and what the answer must be. One YAML file each, under scenarios/.
type Scenario struct {
	Name     string `yaml:"-"`
	Question string `yaml:"question"`
	Calls    []Step `yaml:"calls"`
	Expect   Check  `yaml:"expect"`
}

// Step is one tool call. Pages "all" follows next_cursor until has_more is
// false (each page is a call); a number reads that many pages at most.
// String arguments may name values from earlier steps or the dataset:
// $first (the first incident id the last list returned), $token (the last
// confirmation_token), $devices (the device ids of the last incident read
// with get_incident), $newest:<instance>, $injection:<instance> (the newest
// injection incident there, by the oracle).
type Step struct {
	Tool  string         `yaml:"tool"`
	Args  map[string]any `yaml:"args"`
	Pages any            `yaml:"pages"`
}

// Check is what a scenario asserts.
type Check struct {
	// Set: the incidents the list calls returned are exactly these.
	Set *Expect `yaml:"set"`
	// Ordered: the returned incidents come newest first.
	Ordered bool `yaml:"ordered"`
	// TopDevice: the device most often involved in what the calls returned
	// is the one most often involved in this set.
	TopDevice *Expect `yaml:"top_device"`
	// Count: the count the calls returned (total, or the incidents read) is
	// the size of this set.
	Count *Expect `yaml:"count"`
	// Error: the last call is an error result saying this.
	Error string `yaml:"error"`
	// Preview: an update call returned a preview with a token, not a write.
	Preview bool `yaml:"preview"`
	// NoWrite: no simulator dataset changed.
	NoWrite bool `yaml:"no_write"`
	// Written: after the calls, the incident has this status.
	Written *struct {
		ID     string `yaml:"id"`
		Status string `yaml:"status"`
	} `yaml:"written"`
	// Fenced: injection phrases in any result text stand inside ⟦ ⟧, and
	// no result text carries control or bidi characters.
	Fenced bool `yaml:"fenced"`
	// Related: the incidents a related_to call returned with a shared
	// entity of this kind, in these instances, are exactly those the
	// vendors' data relates.
	Related  *Related `yaml:"related"`
	MaxCalls int      `yaml:"max_calls"`
	// MaxTokens bounds the tokens of all result texts read.
	MaxTokens int `yaml:"max_tokens"`
}

// LoadScenarios reads every scenarios/*.yaml, sorted by name, refusing
// unknown keys so a typo cannot turn a check off.
func LoadScenarios(fsys fs.FS) ([]Scenario, error) {
	names, err := fs.Glob(fsys, "scenarios/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []Scenario
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var s Scenario
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		s.Name = strings.TrimSuffix(path.Base(n), ".yaml")
		if s.Question == "" || len(s.Calls) == 0 {
			return nil, fmt.Errorf("%s: needs a question and calls", n)
		}
		out = append(out, s)
	}
	return out, nil
}

// Outcome is what running a scenario gave.
type Outcome struct {
	Calls    int
	Tokens   int
	Failures []string
}

// Caller runs one tool call (Env.Caller). An error is a failure of the
// transport, not of the tool: it ends the run.
type Caller func(tool string, args map[string]any) (Result, error)

// Run plays the scenario's calls through call and checks the answers
// against facts, read before (for the expected sets) and after (for
// writes) through readFacts. A call that fails to run ends the scenario
// with that failure.
func (s *Scenario) Run(call Caller, readFacts func() []Fact) Outcome {
	var o Outcome
	fail := func(format string, a ...any) { o.Failures = append(o.Failures, fmt.Sprintf(format, a...)) }
	before := readFacts()
	var (
		returned  []map[string]any
		seen      = map[string]bool{}
		lastList  []map[string]any
		lastGet   map[string]any
		token     string
		last      Result
		total     = -1
		previewed bool
		texts     []string
		// deviceCounts is the last count_by device answer.
		deviceCounts map[string]any
	)
	for _, st := range s.Calls {
		args := map[string]any{}
		for k, v := range st.Args {
			args[k] = resolve(v, lastList, lastGet, token, before)
		}
		pages := 1
		switch p := st.Pages.(type) {
		case int:
			pages = p
		case string:
			if p == "all" {
				pages = 1 << 20
			}
		}
		for page := 0; page < pages; page++ {
			r, err := call(st.Tool, args)
			if err != nil {
				fail("%v", err)
				return o
			}
			last = r
			o.Calls++
			o.Tokens += Tokens(last.Text)
			texts = append(texts, last.Text)
			if last.IsError {
				break
			}
			if t, ok := last.Structured["confirmation_token"].(string); ok {
				token, previewed = t, true
			}
			if st.Tool == "get_incident" {
				lastGet = last.Structured
			}
			if n, ok := last.Structured["total"].(float64); ok {
				total = int(n)
			}
			if c, ok := last.Structured["counts"].(map[string]any); ok {
				deviceCounts, _ = c["device"].(map[string]any)
			}
			incs, _ := last.Structured["incidents"].([]any)
			if st.Tool == "list_incidents" || incs != nil {
				lastList = lastList[:0]
				for _, x := range incs {
					m, _ := x.(map[string]any)
					id, _ := m["id"].(string)
					if seen[id] {
						fail("incident %s returned twice", id)
					}
					seen[id] = true
					returned = append(returned, m)
					lastList = append(lastList, m)
				}
			}
			next, _ := last.Structured["next_cursor"].(string)
			if more, _ := last.Structured["has_more"].(bool); !more || next == "" {
				break
			}
			args = cloneArgs(args)
			args["cursor"] = next
		}
	}
	after := readFacts()
	e := s.Expect
	ids := make([]string, len(returned))
	for i, m := range returned {
		ids[i], _ = m["id"].(string)
	}
	if e.Set != nil {
		want := e.Set.Select(before)
		if len(want) == 0 {
			fail("the expected set is empty: the scenario checks nothing")
		}
		wantIDs := factIDs(want)
		if missing, extra := diff(wantIDs, ids); len(missing)+len(extra) > 0 {
			fail("returned %d incidents, the dataset has %d matching; missing %v, unexpected %v", len(ids), len(wantIDs), head(missing), head(extra))
		}
	}
	if r := e.Related; r != nil {
		of, _ := resolve(r.Of, lastList, lastGet, token, before).(string)
		i := slices.IndexFunc(before, func(f Fact) bool { return f.ID == of })
		if of == "" || i < 0 {
			fail("related: %s names no incident of the dataset", r.Of)
		} else {
			want := r.RelatedSet(before, before[i])
			var got []string
			for _, m := range returned {
				sh, _ := m["shared"].([]any)
				if slices.Contains(r.Instances, instanceOf(m)) && slices.ContainsFunc(sh, func(x any) bool {
					em, _ := x.(map[string]any)
					return em["kind"] == r.Kind
				}) {
					got = append(got, m["id"].(string))
				}
			}
			if len(want) == 0 {
				fail("related: the expected set is empty: the scenario checks nothing")
			}
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				fail("related to %s by %s: returned %d, the vendors' data has %d; missing %v, unexpected %v", of, r.Kind, len(got), len(want), head(missing), head(extra))
			}
		}
	}
	if e.Ordered {
		for i := 1; i < len(returned); i++ {
			a, _ := returned[i-1]["created_at"].(string)
			b, _ := returned[i]["created_at"].(string)
			if a < b && instanceOf(returned[i-1]) == instanceOf(returned[i]) {
				fail("not newest first at %d: %s before %s", i, a, b)
				break
			}
		}
	}
	if e.TopDevice != nil {
		wantDev, wantN := TopDevice(e.TopDevice.Select(before))
		gotDev, gotN := topReturnedDevice(returned)
		if deviceCounts != nil {
			gotDev, gotN = topCountedDevice(deviceCounts)
		}
		if wantDev == "" || gotDev != wantDev || gotN != wantN {
			fail("most involved device: got %s (%d), the dataset says %s (%d)", gotDev, gotN, wantDev, wantN)
		}
	}
	if e.Count != nil {
		want := len(e.Count.Select(before))
		got := total
		if got < 0 {
			got = len(returned)
		}
		if got != want {
			fail("count %d, the dataset has %d", got, want)
		}
	}
	if e.Error != "" && (!last.IsError || !strings.Contains(last.Text, e.Error)) {
		fail("last call: want an error saying %q, got %q", e.Error, clip(last.Text))
	}
	if e.Error == "" && last.IsError {
		fail("last call failed: %s", clip(last.Text))
	}
	if e.Preview && !previewed {
		fail("no update call returned a preview with a confirmation_token")
	}
	if e.NoWrite && !sameFacts(before, after) {
		fail("a simulator dataset changed")
	}
	if w := e.Written; w != nil {
		id, _ := resolve(w.ID, lastList, lastGet, token, before).(string)
		i := slices.IndexFunc(after, func(f Fact) bool { return f.ID == id })
		if i < 0 || after[i].Status != w.Status {
			fail("%s: want status %s in the vendor's data after the calls", id, w.Status)
		}
	}
	if e.Fenced {
		for _, t := range texts {
			if msg := unfenced(t); msg != "" {
				fail("%s", msg)
			}
		}
	}
	if e.MaxCalls > 0 && o.Calls > e.MaxCalls {
		fail("%d calls, budget %d", o.Calls, e.MaxCalls)
	}
	if e.MaxTokens > 0 && o.Tokens > e.MaxTokens {
		fail("%d tokens read, budget %d", o.Tokens, e.MaxTokens)
	}
	return o
}

func cloneArgs(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func resolve(v any, lastList []map[string]any, lastGet map[string]any, token string, facts []Fact) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch {
	case s == "$first":
		if len(lastList) > 0 {
			return lastList[0]["id"]
		}
		return ""
	case s == "$token":
		return token
	case s == "$devices":
		var ids []string
		devs, _ := lastGet["devices"].([]any)
		for _, d := range devs {
			m, _ := d.(map[string]any)
			if id, _ := m["id"].(string); id != "" {
				ids = append(ids, id)
			}
		}
		return ids
	case strings.HasPrefix(s, "$newest:"):
		return Newest(facts, []string{strings.TrimPrefix(s, "$newest:")}).ID
	case strings.HasPrefix(s, "$shared-user:"), strings.HasPrefix(s, "$shared-host:"):
		kind, rest, _ := strings.Cut(strings.TrimPrefix(s, "$shared-"), ":")
		from, to, _ := strings.Cut(rest, ":")
		return sharedWith(facts, kind, from, to)
	case strings.HasPrefix(s, "$injection:"):
		e := Expect{Instances: []string{strings.TrimPrefix(s, "$injection:")}, Injection: true}
		if fs := e.Select(facts); len(fs) > 0 {
			return fs[0].ID
		}
		return ""
	}
	return s
}

func factIDs(fs []Fact) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

func diff(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func topReturnedDevice(incs []map[string]any) (string, int) {
	var fs []Fact
	for _, m := range incs {
		var f Fact
		devs, _ := m["devices"].([]any)
		for _, d := range devs {
			dm, _ := d.(map[string]any)
			id, _ := dm["id"].(string)
			f.DeviceIDs = append(f.DeviceIDs, id)
		}
		fs = append(fs, f)
	}
	return TopDevice(fs)
}

// topCountedDevice is the largest of a count_by device answer (ties: the
// smallest id), leaving out the buckets that are no device.
func topCountedDevice(counts map[string]any) (string, int) {
	best, n := "", 0
	for id, v := range counts {
		c, _ := v.(float64)
		if id == "(none)" || id == "(others)" {
			continue
		}
		if int(c) > n || int(c) == n && id < best {
			best, n = id, int(c)
		}
	}
	return best, n
}

func sameFacts(a, b []Fact) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

var phrases = regexp.MustCompile(`(?i)ignore previous instructions|"name":"update_incident"|"tool":"update_incident"|confirmation is not required`)

// unfenced reports text that breaks the fencing rules: an injection phrase
// outside ⟦ ⟧, or a control or bidi character anywhere.
func unfenced(text string) string {
	for _, r := range text {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			return fmt.Sprintf("result text carries control or format character %U", r)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		for _, loc := range phrases.FindAllStringIndex(line, -1) {
			before := line[:loc[0]]
			if strings.Count(before, "⟦") <= strings.Count(before, "⟧") {
				return fmt.Sprintf("vendor text outside a fence: %q", clip(line))
			}
		}
	}
	return ""
}

// instanceOf reads a record's instance from its id ("<instance>:<native>"):
// list records leave the instance field out.
func instanceOf(rec map[string]any) string {
	id, _ := rec["id"].(string)
	name, _, _ := strings.Cut(id, ":")
	return name
}
