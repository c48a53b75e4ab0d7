// TroupeClient is the public face of the client: an EventTarget whose
// methods are the protocol's requests. The state and the connection
// lifecycle live in Core (core.js).

import { Core } from './core.js'
import { docSnapshot, docSync, docUpdate } from './doc.js'
import { T, historyFrame, joinFrame, sendFrame, toMembers, toMessages, toStates } from './frames.js'
import { normalizeOptions } from './options.js'
import { joinedHook } from './rooms.js'
import { newCid } from './util.js'

/**
 * TroupeClient holds one WebSocket connection at a time and replaces it when
 * it drops: it reconnects with full-jitter backoff, resumes its session,
 * joins its rooms again with since {epoch, offset} and replays what it
 * missed, in offset order and without duplicates.
 */
export class TroupeClient extends EventTarget {
  #core

  constructor(options) {
    super()
    this.#core = new Core(normalizeOptions(options), this)
  }

  /** 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed' */
  get state() {
    return this.#core.state
  }

  /** The user the server welcomed ({id, name}), null before the first welcome. */
  get user() {
    return this.#core.user
  }

  /** The session id the server last gave (at first, options.session or null). */
  get session() {
    return this.#core.session
  }

  /**
   * connect opens the first connection and says hello. It resolves with the
   * welcome ({session, user, resumed}); it rejects when that connection
   * fails (the state goes back to 'idle' and connect may be called again).
   * From then on the client keeps itself connected until close() or a close
   * it must not reconnect after.
   */
  connect() {
    return this.#core.connect()
  }

  /** close closes the connection with 1000 and stops reconnecting; idempotent. */
  close() {
    this.#core.close()
  }

  /**
   * join joins a room; the client rejoins it after every reconnect until
   * leave. Messages after the reply's offset arrive as `message` events; the
   * reply's own messages (history, or the recovered ones with since) do not.
   */
  async join(room, options = {}) {
    const core = this.#core
    const { frame: f } = await core.attempts({
      frame: (id) => joinFrame(id, room, options),
      want: T.JOINED,
      hook: (f) => joinedHook(core, options.password || '', f),
      retry: true,
      signal: options.signal,
    })
    return {
      room: f.room,
      epoch: f.epoch,
      offset: f.offset,
      recovered: Boolean(f.recovered),
      members: toMembers(f.members),
      messages: toMessages(f.room, f.messages),
      states: toStates(f.states),
    }
  }

  /** leave leaves a room; the client stops tracking it at once. */
  async leave(room) {
    const core = this.#core
    if (core.rooms.delete(room)) core.changed()
    await core.attempts({ frame: (id) => ({ type: T.LEAVE, id, room }), want: T.LEFT, retry: true })
  }

  /**
   * send publishes a message and resolves with the server's ack. It retries
   * with the same cid after timeouts, reconnects (once the room is joined
   * again), unavailable and rate_limited, until the ack comes, the signal
   * aborts, or the server refuses it (ServerError); the server's dedup makes
   * it exactly-once.
   */
  async send(room, message = {}) {
    const cid = message.cid || newCid()
    const { frame: f, sent } = await this.#core.attempts({
      room,
      frame: (id) => sendFrame(id, room, message, cid),
      want: T.ACK,
      retry: true,
      signal: message.signal,
    })
    return { room: f.room ?? room, msgId: f.msg_id, offset: f.offset, ts: f.ts, dup: Boolean(f.dup), cid, attempts: sent }
  }

  /** typing tells the room's other users this one started (on) or stopped typing. No reply; an error comes as an `error` event. */
  async typing(room, on = true) {
    const conn = await this.#core.awaitConn(room, true)
    conn.write({ type: T.TYPING, room, on: Boolean(on) })
  }

  /**
   * signal sends an ephemeral signal under key (a cursor, a selection) to
   * the room's other connections; data is any JSON value. Never stored,
   * acknowledged or recovered: a reader that falls behind gets only the
   * latest of each key, and signals over the server's signal rate are
   * dropped. An error comes as an `error` event.
   */
  async signal(room, key, data = null) {
    const conn = await this.#core.awaitConn(room, true)
    conn.write({ type: T.SIGNAL, room, key, data })
  }

  /**
   * setPresence sets this connection's presence state in a joined room (an
   * object; null clears it). Members see it in presence() and in `presence`
   * events' states. The client sets it again after every rejoin: the server
   * forgets a connection's state when the connection ends. An error comes
   * as an `error` event.
   */
  async setPresence(room, state) {
    const core = this.#core
    const conn = await core.awaitConn(room, true)
    const r = core.rooms.get(room)
    if (r) r.state = state ?? null
    conn.write({ type: T.PRESENCE_SET, room, state: state ?? null })
  }

  /** connId names the current connection as signals and presence states name it to others; null while not connected. */
  get connId() {
    return this.#core.conn ? this.#core.connId : null
  }

  /** presence resolves with the users in a room, with their connection counts. */
  async presence(room) {
    const { frame: f } = await this.#core.attempts({
      room,
      frame: (id) => ({ type: T.PRESENCE, id, room }),
      want: T.PRESENCE,
      retry: true,
    })
    return toMembers(f.members)
  }

  /** history resolves with one page of a joined room's messages, in ascending offsets. */
  async history(room, query = {}) {
    const { frame: f } = await this.#core.attempts({
      room,
      frame: (id) => historyFrame(id, room, query),
      want: T.HISTORY,
      retry: true,
    })
    return { room: f.room ?? room, messages: toMessages(f.room ?? room, f.msgs), more: Boolean(f.more) }
  }

  /** rooms resolves with the server's public rooms. */
  async rooms() {
    const { frame: f } = await this.#core.attempts({
      frame: (id) => ({ type: T.ROOMS, id }),
      want: T.ROOMS,
      retry: true,
    })
    return (f.rooms ?? []).map((r) => ({ room: r.room, members: r.members ?? 0, private: Boolean(r.private) }))
  }

  /**
   * direct sends a message to every connection of user `to` and resolves
   * with its timestamp. It is not retried: the server keeps no dedup for
   * direct messages.
   */
  async direct(to, text, data) {
    const frame = (id) => {
      const f = { type: T.DIRECT, id, to }
      if (text != null && text !== '') f.text = text
      if (data !== undefined) f.data = data
      return f
    }
    const { frame: f } = await this.#core.attempts({ frame, want: T.ACK, retry: false })
    return { ts: f.ts }
  }

  /** ping measures a round trip: {rttMs, serverTime}. */
  async ping() {
    let start = 0
    const { frame: f } = await this.#core.attempts({
      frame: (id) => {
        start = performance.now()
        return { type: T.PING, id }
      },
      want: T.PONG,
      retry: false,
    })
    return { rttMs: performance.now() - start, serverTime: f.server_time }
  }

  /**
   * setToken replaces the token: it is sent in a refresh now when connected
   * (resolving with {exp}; the server's refusal rejects) and in every later
   * hello (resolving with null when not connected). New credentials also
   * let the client reconnect after a close for policy (1008), a kick (4002)
   * or an expired token (4003).
   */
  async setToken(token) {
    const core = this.#core
    if (core.closedErr) throw core.closedErr
    core.token = token
    core.tokenGen++
    if (!core.conn) return null
    const { frame: f } = await core.attempts({
      frame: (id) => ({ type: T.REFRESH, id, token }),
      want: T.REFRESHED,
      retry: false,
    })
    return { exp: f.exp ?? null }
  }

  /**
   * docUpdate appends an update (bytes, a Uint8Array: a CRDT update the
   * server does not read) to a joined room's document and resolves with
   * the ack, like send: it is retried with the same cid until acked, also
   * across reconnects. The room's members get it as a `doc` event.
   */
  docUpdate(room, bytes, options = {}) {
    return docUpdate(this.#core, room, bytes, options)
  }

  /**
   * docSync reads a joined room's document from offset `after` (default 0:
   * all of it) on, paging until the server has no more. It resolves with
   * {room, snapshot, updates, offset, gap}: the latest snapshot past
   * `after` ({offset, ts, data}, or null), the updates after it in
   * ascending offsets ({room, id, offset, ts, from, data}), the offset now
   * reached, and whether it had to read from 0 because updates past
   * `after` were trimmed. Updates arriving meanwhile as `doc` events may
   * repeat some of these; CRDT updates apply idempotently.
   */
  docSync(room, options = {}) {
    return docSync(this.#core, room, options)
  }

  /**
   * docSnapshot uploads a snapshot (bytes) of a joined room's document that
   * covers every update with offset ≤ offset, so that retention may trim
   * them and joiners load it instead. It resolves with {room, offset,
   * stored}; stored is false when the room holds a snapshot at offset or
   * later already (offset is then that one's).
   */
  docSnapshot(room, offset, bytes, options = {}) {
    return docSnapshot(this.#core, room, offset, bytes, options)
  }

  /** position returns where a joined room's stream is ({epoch, offset}: the last offset delivered), or null. */
  position(room) {
    return this.#core.rooms.get(room)?.position() ?? null
  }

  /** joinedRooms returns the rooms the client tracks (and rejoins after a reconnect), sorted. */
  joinedRooms() {
    return [...this.#core.rooms.keys()].sort()
  }
}
