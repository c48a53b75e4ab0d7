// Exponential backoff with full jitter, as centrifuge-js uses: before attempt
// n (from 0) the client waits a uniformly random whole number of
// milliseconds in [0, min(maxMs, minMs·2ⁿ)].

/** Default backoff between reconnect attempts. */
export const DEFAULT_RECONNECT = Object.freeze({ minMs: 500, maxMs: 20000 })

/** Default backoff between retries after unavailable or rate_limited. */
export const DEFAULT_RETRY = Object.freeze({ minMs: 50, maxMs: 1000 })

/** backoffCeiling returns the upper bound of the delay before attempt n. */
export function backoffCeiling(attempt, { minMs, maxMs } = DEFAULT_RECONNECT) {
  if (!(minMs > 0) || !(maxMs > 0)) return Math.max(maxMs || 0, 0)
  const n = Math.max(0, Math.floor(attempt) || 0)
  return Math.min(maxMs, minMs * 2 ** Math.min(n, 62))
}

/**
 * backoffDelay returns a random delay in milliseconds in [0, ceiling(n)].
 * random (default Math.random) returns a number in [0, 1).
 */
export function backoffDelay(attempt, backoff = DEFAULT_RECONNECT, random = Math.random) {
  const ceiling = backoffCeiling(attempt, backoff)
  return Math.min(ceiling, Math.floor(random() * (ceiling + 1)))
}
