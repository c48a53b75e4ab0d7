// Test clients that record their events, and waits on those events (no
// sleeps: every wait ends when the awaited event arrives, or fails after a
// bound).

import { EVENT_TYPES, TroupeClient } from '../src/index.js'

/** WAIT_MS bounds every wait for an event. */
export const WAIT_MS = 15000

/** Fast reconnects keep the tests quick. */
export const FAST_RECONNECT = { minMs: 10, maxMs: 100 }

/** record keeps every event client dispatches, in order, as {type, detail}. */
export function record(client) {
  const events = []
  const waiters = new Set()
  for (const type of EVENT_TYPES) {
    client.addEventListener(type, (ev) => {
      events.push({ type, detail: ev.detail })
      for (const check of [...waiters]) check()
    })
  }
  const rec = {
    events,
    /** of returns the details of the events of type so far. */
    of(type) {
      return events.filter((e) => e.type === type).map((e) => e.detail)
    },
    /** until resolves with the events once cond(events) holds. */
    until(what, cond, timeoutMs = WAIT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          let ok
          try {
            ok = cond(events)
          } catch (err) {
            done()
            reject(err)
            return
          }
          if (ok) {
            done()
            resolve(events)
          }
        }
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        const timer = setTimeout(() => {
          done()
          const summary = events.map((e) => `${e.type} ${JSON.stringify(e.detail, replacer)}`).slice(-40)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last events:\n${summary.join('\n')}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    /** next resolves with the detail of the first event of type (so far or to come) that matches. */
    async next(type, match = () => true, what = type) {
      let found
      await rec.until(what, (evs) => {
        const e = evs.find((x) => x.type === type && match(x.detail))
        found = e?.detail
        return e !== undefined
      })
      return found
    },
    /** messages returns the message events of room so far. */
    messages(room) {
      return rec.of('message').filter((m) => m.room === room)
    },
    /** untilMessages resolves with room's message events once there are at least n. */
    async untilMessages(room, n) {
      await rec.until(`${n} messages in ${room}`, () => rec.messages(room).length >= n)
      return rec.messages(room)
    },
  }
  return rec
}

function replacer(key, value) {
  return value instanceof Error ? `${value.name}: ${value.message}` : value
}

/**
 * connectClient connects a recording client to url; it is closed when t
 * ends. options are TroupeClient options (fast reconnects by default).
 */
export async function connectClient(t, url, options = {}) {
  const client = new TroupeClient({ url, reconnect: FAST_RECONNECT, ...options })
  const rec = record(client)
  t.after(() => client.close())
  await client.connect()
  return { client, rec }
}

/** offsets returns the offsets of message details. */
export function offsets(msgs) {
  return msgs.map((m) => m.offset)
}

/** seq returns [from, …, to]. */
export function seq(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}
