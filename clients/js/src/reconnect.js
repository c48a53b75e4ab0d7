// Reconnection: when the current connection ends, Core.onConnEnd decides
// from the close code whether to reconnect (decideClose); reconnect dials
// again with full-jitter backoff until a connection is welcomed. The new
// connection resumes the session, and recovery.js joins every room again
// with since.

import { backoffDelay } from './backoff.js'
import { ErrorCodes, ServerError, closeCode, decideClose } from './errors.js'
import { delay } from './util.js'

/**
 * reconnect dials until a connection is welcomed, waiting a backoff before
 * each attempt and announcing it with a `state` event. It stops when the
 * client closes, or closes it when an attempt fails in a way that trying
 * again cannot fix.
 */
export async function reconnect(core, cause) {
  for (let attempt = 1; ; attempt++) {
    const delayMs = backoffDelay(attempt - 1, core.opts.reconnect)
    core.setState('reconnecting', { code: closeCode(cause), attempt, delayMs, error: cause })
    if (!(await delay(delayMs, core.lifetime.signal))) return
    const gen = core.tokenGen
    try {
      await core.dial(true)
      return
    } catch (err) {
      if (core.closedErr) return
      cause = err
      if (!mayRetryConnect(core, err, gen)) {
        core.finish(err)
        return
      }
    }
  }
}

/**
 * mayRetryConnect reports whether a failed attempt is worth repeating: not
 * when the server refused the credentials it carried (generation gen) and
 * no newer ones came since, nor after a close that stops the client.
 */
export function mayRetryConnect(core, err, gen) {
  const newCredentials = core.tokenGen !== gen
  if (err instanceof ServerError && (err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.INVALID)) {
    return newCredentials
  }
  switch (decideClose(err)) {
    case 'stop':
      return false
    case 'reconnect-if-new':
      return newCredentials
    default:
      return true
  }
}
