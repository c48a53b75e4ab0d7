// Recovery after a reconnect: every tracked room is joined again with since
// {epoch, offset}; the replies replay what was missed (rooms.js
// applyRejoin), and a `recovered` event sums up which rooms came back whole,
// which with a gap, and which not at all. The first joins are pipelined:
// sendRejoins writes them right behind the hello, before the welcome (the
// server handles a connection's frames in order), so a reconnect costs one
// round trip however many rooms the client is in.

import { backoffDelay } from './backoff.js'
import { DisconnectedError, ErrorCodes, ServerError, TimeoutError, retryableCode } from './errors.js'
import { T } from './frames.js'
import { applyRejoin } from './rooms.js'
import { delay } from './util.js'

/**
 * sendRejoins writes a join with since for every room that is not ready on
 * conn, right after conn's hello and before its welcome. It returns the
 * pending attempts by room, for recoverRooms once conn is welcomed; when it
 * is not (the hello failed, the connection ended), their failures are
 * nobody's: the server closes a connection that sends a join after a failed
 * hello, and the next connection rejoins again.
 */
export function sendRejoins(core, conn) {
  const sent = new Map()
  for (const name of notReady(core)) {
    const first = attempt(core, conn, name)
    first.catch(() => {}) // awaited by recoverRooms, if conn is welcomed
    sent.set(name, first)
  }
  return sent
}

function notReady(core) {
  return [...core.rooms.values()]
    .filter((r) => !r.ready)
    .map((r) => r.name)
    .sort()
}

/**
 * recoverRooms rejoins every room that is not ready on conn, concurrently,
 * then emits `recovered`. sent holds the joins already written behind the
 * hello (sendRejoins); a room without one is joined now.
 */
export async function recoverRooms(core, conn, sent = new Map()) {
  const names = [...new Set([...sent.keys(), ...notReady(core)])].sort()
  const outcomes = await Promise.all(names.map((name) => rejoin(core, conn, name, sent.get(name))))
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
 * is unavailable; first is a join already sent (sendRejoins), awaited
 * before any other. It returns 'recovered', 'gap', 'failed' (the server
 * refused; the room is dropped) or 'aborted' (the connection ended, or the
 * room is no longer tracked).
 */
async function rejoin(core, conn, name, first) {
  for (let retries = 0; ; retries++) {
    const r = core.rooms.get(name)
    let pending = first
    first = undefined
    if (!pending) {
      if (!r || r.ready || core.conn !== conn) return 'aborted'
      pending = attempt(core, conn, name)
    }
    try {
      return await pending
    } catch (err) {
      if (core.closedErr || err instanceof DisconnectedError) return 'aborted'
      const transient =
        err instanceof TimeoutError ||
        (err instanceof ServerError && (retryableCode(err.code) || err.code === ErrorCodes.INTERNAL))
      if (transient) {
        if (!(await delay(backoffDelay(retries, core.opts.retry), core.lifetime.signal, conn.done))) return 'aborted'
        continue
      }
      if (r && core.rooms.get(name) === r) {
        core.rooms.delete(name)
        core.emit('rejoin_failed', { room: name, error: err })
        core.changed()
      }
      return 'failed'
    }
  }
}

/**
 * attempt writes one join of name with since on conn and resolves with the
 * outcome of its reply ('recovered', 'gap' or 'aborted'), or rejects with
 * why it got none.
 */
async function attempt(core, conn, name) {
  const r = core.rooms.get(name)
  const frame = { type: T.JOIN, id: core.nextId(), room: name, since: r.position() }
  if (r.password) frame.password = r.password
  if (core.opts.rejoinHistory > 0) frame.history = core.opts.rejoinHistory
  let outcome = 'aborted'
  await conn.request(frame, { hook: (f) => (outcome = rejoined(core, conn, name, f)) })
  return outcome
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
