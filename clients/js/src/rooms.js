// The client's view of each joined room's stream: where it is (epoch and
// last offset delivered), and the rules that deliver every offset at most
// once and in order — across live pushes, our own acked messages (the server
// never pushes those to the sending connection) and recovery after a
// reconnect.

import { DOC_KIND, toDocUpdate } from './doc.js'
import { T, toMessage, toMessages, toStates } from './frames.js'

/** RoomStream is one joined room. Owned by the client's Core. */
export class RoomStream {
  constructor(name, password, epoch, last) {
    this.name = name
    this.password = password // sent again on rejoin
    this.epoch = epoch
    this.last = last // offset of the last message delivered, or acked to us
    this.own = new Set() // our acked offsets above last
    this.ready = true // joined on the current connection
    this.held = [] // pushes that came before the rejoin's reply
    this.state = null // the presence state set here, sent again on rejoin
  }

  /** advance records that every offset up to off is done, then skips our own messages that follow. */
  advance(off) {
    if (off > this.last) this.last = off
    while (this.own.delete(this.last + 1)) this.last++
    for (const o of this.own) if (o <= this.last) this.own.delete(o)
  }

  /** ack records that the server stored one of our messages at off. */
  ack(off) {
    if (!(off > this.last)) return
    if (off === this.last + 1) this.advance(off)
    else this.own.add(off)
  }

  /** isNew reports whether offset off is to be delivered; our own message only advances the stream. */
  isNew(off) {
    if (!(off > this.last)) return false
    if (this.own.has(off)) {
      this.advance(off)
      return false
    }
    return true
  }

  position() {
    return { epoch: this.epoch, offset: this.last }
  }
}

/**
 * deliver emits message m of room r unless it was delivered already: a
 * document update (kind doc) as a `doc` event, anything else as a `message`.
 */
export function deliver(core, r, m, replayed) {
  if (!r.isNew(m.offset)) return
  r.advance(m.offset)
  if (m.kind === DOC_KIND) core.emit('doc', { ...toDocUpdate(r.name, m), epoch: r.epoch, replayed })
  else core.emit('message', { ...m, epoch: r.epoch, replayed })
}

/** pushMessages handles a message or batch push of a room. */
export function pushMessages(core, conn, name, msgs) {
  const r = core.rooms.get(name)
  if (!r) return // left, or closed: not ours any more
  if (!r.ready) {
    r.held.push(...toMessages(name, msgs))
    if (r.held.length > MAX_HELD) {
      conn.abort(new Error(`troupe: over ${MAX_HELD} messages of ${name} came before its rejoin's reply`))
    }
    return
  }
  for (const m of msgs) deliver(core, r, toMessage(name, m), false)
}

/** MAX_HELD bounds the pushes held for a room being rejoined; beyond it the connection is dropped and recovery replays them. */
const MAX_HELD = 10000

/**
 * joinedHook applies the reply to a join the application asked for: a room
 * joined for the first time is tracked from the room's current offset on.
 */
export function joinedHook(core, password, f) {
  if (f.type !== T.JOINED) return
  const r = core.rooms.get(f.room)
  if (!r) {
    core.rooms.set(f.room, new RoomStream(f.room, password, f.epoch, f.offset))
    core.changed()
    return
  }
  r.password = password
  if (r.ready && r.epoch !== f.epoch) {
    // Its history was lost: a new stream.
    r.epoch = f.epoch
    r.last = f.offset
    r.own.clear()
  }
  // A room not ready is being rejoined; the rejoin's reply recovers it.
}

/**
 * applyRejoin applies a rejoin's reply after a reconnect: it announces the
 * recovery, replays the missed messages in offset order, then whatever was
 * pushed meanwhile, and marks the room ready. It returns whether every
 * missed message was replayed.
 */
export function applyRejoin(core, r, f) {
  const from = r.last
  const epochChanged = r.epoch !== f.epoch
  if (epochChanged) {
    r.epoch = f.epoch
    r.last = 0
    r.own.clear()
  }
  const msgs = toMessages(r.name, f.messages).sort((a, b) => a.offset - b.offset)
  let replayed = 0
  for (let i = 0; i < msgs.length; i++) {
    const off = msgs[i].offset
    if (off > r.last && (i === 0 || off !== msgs[i - 1].offset) && !r.own.has(off)) replayed++
  }
  const recovered = Boolean(f.recovered) && !epochChanged
  const ev = { room: r.name, epoch: f.epoch, recovered, epochChanged, from, to: f.offset, replayed }
  // Presence changes during the disconnect were missed: the rejoin's
  // presence states (absent when none) are where a view of them starts over.
  if (Array.isArray(f.states) && f.states.length > 0) ev.states = toStates(f.states)
  core.emit('recovery', ev)
  for (const m of msgs) deliver(core, r, m, true)
  const held = r.held
  r.held = []
  for (const m of held) deliver(core, r, m, false)
  r.advance(f.offset) // after a gap, the stream goes on from the room's offset
  r.ready = true
  core.changed()
  return recovered
}
