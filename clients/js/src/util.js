// Small helpers: cancellable waits, client message ids, UTF-8 sizes.

/**
 * delay resolves true after ms, or false as soon as one of the signals
 * (AbortSignals; null entries are skipped) is aborted. It leaves no timer
 * behind either way.
 */
export function delay(ms, ...signals) {
  const live = signals.filter(Boolean)
  return new Promise((resolve) => {
    if (live.some((s) => s.aborted)) {
      resolve(false)
      return
    }
    const done = (ok) => {
      clearTimeout(timer)
      for (const s of live) s.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    for (const s of live) s.addEventListener('abort', onAbort, { once: true })
  })
}

/** newCid returns a random idempotency key for a send: "c-" and a UUID. */
export function newCid() {
  const c = globalThis.crypto
  if (typeof c?.randomUUID === 'function') return `c-${c.randomUUID()}`
  // randomUUID needs a secure context in browsers; getRandomValues does not.
  const b = new Uint8Array(16)
  c.getRandomValues(b)
  return `c-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`
}

const encoder = new TextEncoder()

/** utf8Length returns the size of s in UTF-8, in bytes. */
export function utf8Length(s) {
  return encoder.encode(s).length
}
