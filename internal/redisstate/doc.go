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
//     of the vendor's limit (N is Options.Replicas), log a warning once per
//     outage and count what they granted locally (Stats), so reads go on;
//     they try Redis again at most every ProbeInterval and switch back when
//     it answers.
//
// Every time is Redis's own clock (TIME inside the scripts), so replicas
// with skewed clocks still share one schedule.
package redisstate
