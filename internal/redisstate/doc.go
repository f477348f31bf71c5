// Package redisstate is the state that replicas of the server share through
// Redis: the single-use confirmation nonces (incidents.NonceStore), the write
// lock per incident with a fencing token (incidents.Locker), and each vendor
// credential's rate limit and concurrency bound (driver.Limiter and
// driver.Semaphore), so N replicas together stay within what one vendor
// credential may send.
//
// Failure policy. When Redis cannot answer:
//   - Use and Lock return an error wrapping ErrUnavailable: a write is never
//     made without the single-use guarantee, so the caller writes nothing;
//   - the Limiter and the Semaphore fall back to local ones that allow 1/N
//     of the vendor's limit in any window (N is Options.Replicas) and
//     max(1, slots/N) in flight, log a warning once per outage and count what
//     they granted locally (Store.Stats), so reads go on; they try Redis again
//     at most every ProbeInterval and switch back when it answers.
//
// The switches are where a bound can slip: a replica that took more than
// its 1/N of the shared schedule in the last window may, on falling back,
// see the others add their full shares; and requests a replica still holds
// on a local semaphore slot when Redis returns are not counted by the shared
// one. Both last one window (or one request) at most.
//
// Every time is Redis's own clock (TIME inside the scripts), so replicas
// with skewed clocks still share one schedule.
package redisstate
