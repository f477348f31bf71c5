package main

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// watch counts what reaches one simulator before the simulator sees it:
// every attempt, refused ones included, so a test can prove that clients
// stayed within the vendor's limits rather than that the simulator refused
// the excess.
type watch struct {
	// route names the endpoint a request's concurrency counts against (the
	// vendor bounds requests in flight per endpoint) and tells whether the
	// vendor's rate limit counts the request.
	route func(*http.Request) (string, bool)
	now   func() time.Time

	mu       sync.Mutex
	since    time.Time
	attempts int
	tooMany  int
	statuses map[int]int
	inFlight map[string]int
	peak     map[string]int
	// recent holds the arrival times of rate-limited attempts in the last
	// minute, oldest first.
	recent    []time.Time
	maxSecond int
	maxMinute int
}

func newWatch(route func(*http.Request) (string, bool)) *watch {
	w := &watch{route: route, now: time.Now}
	w.reset()
	return w
}

func (w *watch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.since = w.now()
	w.attempts, w.tooMany, w.maxSecond, w.maxMinute = 0, 0, 0, 0
	w.statuses, w.peak = map[int]int{}, map[string]int{}
	w.inFlight = map[string]int{}
	w.recent = nil
}

// wrap returns h with every request counted.
func (w *watch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		route, limited := w.route(r)
		w.arrive(route, limited)
		rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		defer func() { w.leave(route, rec.status) }()
		h.ServeHTTP(rec, r)
	})
}

func (w *watch) arrive(route string, limited bool) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts++
	w.inFlight[route]++
	w.peak[route] = max(w.peak[route], w.inFlight[route])
	if !limited {
		return
	}
	i := sort.Search(len(w.recent), func(i int) bool { return now.Sub(w.recent[i]) < time.Minute })
	w.recent = append(w.recent[i:], now)
	j := sort.Search(len(w.recent), func(i int) bool { return now.Sub(w.recent[i]) < time.Second })
	w.maxSecond = max(w.maxSecond, len(w.recent)-j)
	w.maxMinute = max(w.maxMinute, len(w.recent))
}

func (w *watch) leave(route string, status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight[route]--
	w.statuses[status]++
	if status == http.StatusTooManyRequests {
		w.tooMany++
	}
}

// report is what one simulator saw since the start or the last reset.
type report struct {
	Seconds float64 `json:"seconds"`
	// Attempts counts every request that arrived, whatever its answer.
	Attempts int `json:"attempts"`
	// PerSecond is Attempts over Seconds.
	PerSecond float64 `json:"per_second"`
	// LimitedPerSecond is the rate of the requests the vendor's limit
	// counts, over the last 10 seconds.
	LimitedPerSecond float64 `json:"limited_per_second_last_10s"`
	// MaxInAnySecond and MaxInAnyMinute are the most rate-limited attempts
	// that arrived within any sliding second and minute.
	MaxInAnySecond int `json:"max_in_any_second"`
	MaxInAnyMinute int `json:"max_in_any_minute"`
	// PeakConcurrency is the most attempts in flight at once on one route.
	PeakConcurrency        int            `json:"peak_concurrency"`
	PeakConcurrencyByRoute map[string]int `json:"peak_concurrency_by_route"`
	TooManySent            int            `json:"too_many_sent"`
	Statuses               map[int]int    `json:"statuses"`
	// Simulator is the simulator's own counters.
	Simulator any `json:"simulator,omitempty"`
}

func (w *watch) report() report {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	secs := now.Sub(w.since).Seconds()
	r := report{
		Seconds: secs, Attempts: w.attempts, MaxInAnySecond: w.maxSecond, MaxInAnyMinute: w.maxMinute,
		TooManySent: w.tooMany, Statuses: map[int]int{}, PeakConcurrencyByRoute: map[string]int{},
	}
	if secs > 0 {
		r.PerSecond = float64(w.attempts) / secs
	}
	last10 := 0
	for _, t := range w.recent {
		if now.Sub(t) < 10*time.Second {
			last10++
		}
	}
	r.LimitedPerSecond = float64(last10) / min(10, max(secs, 1e-9))
	for k, v := range w.statuses {
		r.Statuses[k] = v
	}
	for k, v := range w.peak {
		r.PeakConcurrencyByRoute[k] = v
		r.PeakConcurrency = max(r.PeakConcurrency, v)
	}
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.status, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
