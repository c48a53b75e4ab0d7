// Recovery after a reconnect: every tracked room is joined again with since
// {epoch, offset}; the replies replay what was missed (rooms.js
// applyRejoin), and a `recovered` event sums up which rooms came back whole,
// which with a gap, and which not at all.

import { backoffDelay } from './backoff.js'
import { DisconnectedError, ErrorCodes, ServerError, TimeoutError, retryableCode } from './errors.js'
import { T } from './frames.js'
import { applyRejoin } from './rooms.js'
import { delay } from './util.js'

/** recoverRooms rejoins every room that is not ready on conn, concurrently, then emits `recovered`. */
export async function recoverRooms(core, conn) {
  const names = [...core.rooms.values()]
    .filter((r) => !r.ready)
    .map((r) => r.name)
    .sort()
  const outcomes = await Promise.all(names.map((name) => rejoin(core, conn, name)))
  const ev = { rooms: [], gaps: [], failed: [] }
  names.forEach((name, i) => {
    switch (outcomes[i]) {
      case 'aborted':
        return
      case 'failed':
        ev.failed.push(name)
        return
      case 'gap':
        ev.gaps.push(name)
        break
    }
    ev.rooms.push(name)
  })
  if (core.conn === conn) core.emit('recovered', ev)
}

/**
 * rejoin joins one room again on conn with since, retrying while the server
 * is unavailable. It returns 'recovered', 'gap', 'failed' (the server
 * refused; the room is dropped) or 'aborted' (the connection ended, or the
 * room is no longer tracked).
 */
async function rejoin(core, conn, name) {
  for (let retries = 0; ; retries++) {
    const r = core.rooms.get(name)
    if (!r || r.ready || core.conn !== conn) return 'aborted'
    const frame = { type: T.JOIN, id: core.nextId(), room: name, since: r.position() }
    if (r.password) frame.password = r.password
    if (core.opts.rejoinHistory > 0) frame.history = core.opts.rejoinHistory
    let outcome = 'aborted'
    try {
      await conn.request(frame, { hook: (f) => (outcome = rejoined(core, conn, name, f)) })
      return outcome
    } catch (err) {
      if (core.closedErr || err instanceof DisconnectedError) return 'aborted'
      const transient =
        err instanceof TimeoutError ||
        (err instanceof ServerError && (retryableCode(err.code) || err.code === ErrorCodes.INTERNAL))
      if (transient) {
        if (!(await delay(backoffDelay(retries, core.opts.retry), core.lifetime.signal, conn.done))) return 'aborted'
        continue
      }
      if (core.rooms.get(name) === r) {
        core.rooms.delete(name)
        core.emit('rejoin_failed', { room: name, error: err })
        core.changed()
      }
      return 'failed'
    }
  }
}

/** rejoined runs with a rejoin's joined reply, before the next frame is read. */
function rejoined(core, conn, name, f) {
  if (f.type !== T.JOINED) return 'aborted'
  const r = core.rooms.get(name)
  if (!r || r.ready) {
    if (!r) {
      // Left while the rejoin was in flight.
      try {
        conn.write({ type: T.LEAVE, room: name })
      } catch {
        // The connection is going; the server drops the membership with it.
      }
    }
    return 'aborted'
  }
  const recovered = applyRejoin(core, r, f)
  if (r.state != null) {
    try {
      conn.write({ type: T.PRESENCE_SET, room: name, state: r.state })
    } catch {
      // The connection is going; the next rejoin sets the state again.
    }
  }
  return recovered ? 'recovered' : 'gap'
}
