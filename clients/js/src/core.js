// Core holds a TroupeClient's state and runs its connection lifecycle:
// dialing and hello, the current connection, requests that wait for a
// connection and retry, and the end of the client. reconnect.js replaces a
// connection that ends; recovery.js rejoins the rooms on the new one.
//
// Invariants:
//   - At most one welcomed connection (conn) at a time; requests go through
//     it and are matched by id on it. A connection that ends fails its
//     pending requests at once.
//   - Replies that change state (welcome, joined, ack) are applied by hooks
//     before the next frame is read, so pushes never see stale state.
//   - Once closedErr is set nothing reconnects, every request fails with it,
//     and the `closed` event is the last one.

import { backoffDelay } from './backoff.js'
import { Connection } from './connection.js'
import {
  ClientClosedError,
  CloseCodes,
  CloseError,
  DisconnectedError,
  ServerError,
  TimeoutError,
  TroupeError,
  closeCode,
  decideClose,
  retryableCode,
} from './errors.js'
import { EventQueue } from './events.js'
import { T, toUser } from './frames.js'
import { handlePush } from './push.js'
import { reconnect } from './reconnect.js'
import { recoverRooms, sendRejoins } from './recovery.js'
import { delay } from './util.js'

export class Core {
  constructor(opts, target) {
    this.opts = opts // static: normalized options
    this.events = new EventQueue(target) // static
    this.lifetime = new AbortController() // static: aborted when the client closes

    this.state = 'idle'
    this.conn = null // the welcomed connection; null while there is none
    this.dialing = null // the connection being dialed
    this.connecting = null // the promise of connect(), once called
    this.lastId = 0 // request ids, unique across connections
    this.session = opts.session || null
    this.user = null
    this.connId = null // the welcome's conn: how signals and presence states name this connection
    this.resumed = false
    this.token = opts.token
    this.tokenGen = 0 // bumped by setToken
    this.rooms = new Map() // name → RoomStream
    this.closedErr = null // set once the client is closed for good
    this.waiters = new Set() // woken by changed()
  }

  nextId() {
    return ++this.lastId
  }

  emit(type, detail) {
    this.events.emit(type, detail)
  }

  /** setState moves to state and announces it; every reconnect attempt is announced too. */
  setState(state, extra = {}) {
    const previous = this.state
    if (state === previous && state !== 'reconnecting') return
    this.state = state
    this.emit('state', { state, previous, ...extra })
  }

  /** changed wakes everything waiting for the connection, a room's readiness or the end. */
  changed() {
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const wake of waiters) wake()
  }

  /** waitChange resolves at the next changed(), after ms, or when signal aborts. */
  waitChange(ms, signal) {
    return new Promise((resolve) => {
      let timer = null
      const wake = () => {
        clearTimeout(timer)
        this.waiters.delete(wake)
        signal?.removeEventListener('abort', wake)
        resolve()
      }
      this.waiters.add(wake)
      if (Number.isFinite(ms)) timer = setTimeout(wake, ms)
      signal?.addEventListener('abort', wake, { once: true })
    })
  }

  /** connect dials the first connection; calling it again returns the same promise. */
  connect() {
    if (this.closedErr) return Promise.reject(this.closedErr)
    if (this.connecting) return this.connecting
    this.setState('connecting')
    this.connecting = this.dial(false).catch((err) => {
      if (this.closedErr) throw this.closedErr
      // The first connection failed: back to idle, connect() may be called again.
      this.connecting = null
      this.setState('idle', { code: closeCode(err), error: err })
      throw err
    })
    return this.connecting
  }

  /**
   * dial opens a connection, says hello and installs the connection once
   * welcomed. It throws why it failed: a CloseError when the server closed
   * the socket, a ServerError when it refused the hello, a TimeoutError.
   */
  async dial(reconnected) {
    const conn = new Connection({
      WebSocket: this.opts.WebSocket,
      url: this.opts.url,
      timeoutMs: this.opts.requestTimeoutMs,
      nextId: () => this.nextId(),
      onReply: (f) => this.onReply(f),
      onPush: (f) => handlePush(this, conn, f),
      onEnd: (c, cause) => this.onConnEnd(c, cause),
    })
    this.dialing = conn
    try {
      await conn.open()
      const gen = this.tokenGen
      const hello = { type: T.HELLO, id: this.nextId() }
      if (this.token) hello.token = this.token
      if (this.opts.name) hello.name = this.opts.name
      if (this.session) hello.session = this.session
      let welcome = null
      let rejoins = null
      const answered = conn.request(hello, { hook: (w) => (welcome = this.install(conn, w, reconnected, gen, rejoins)) })
      // A reconnect pipelines its rooms' joins behind the hello: one round trip.
      if (reconnected) rejoins = sendRejoins(this, conn)
      const f = await answered
      if (f.type !== T.WELCOME) throw new TroupeError(`hello answered with ${f.type}`)
      // Installed, the connection is the reconnect loop's to watch, even if
      // it ended already.
      if (welcome) return welcome
      throw this.closedErr ?? new DisconnectedError('not installed', conn.cause)
    } catch (err) {
      const cause = conn.cause instanceof CloseError ? conn.cause : err
      conn.abort(cause)
      throw this.closedErr ?? cause
    } finally {
      if (this.dialing === conn) this.dialing = null
    }
  }

  /**
   * install makes a welcomed connection the current one; it runs before the
   * next frame is read. rejoins are the joins a reconnect sent behind its
   * hello (recovery.js sendRejoins). It returns what connect() resolves with, or null
   * when the client closed meanwhile.
   */
  install(conn, f, reconnected, gen, rejoins) {
    if (f.type !== T.WELCOME || this.closedErr) return null
    conn.tokenGen = gen
    conn.reconnected = reconnected
    conn.welcomed(f)
    this.conn = conn
    this.session = f.session
    this.user = toUser(f.user)
    this.connId = f.conn ?? null
    this.resumed = Boolean(f.resumed)
    this.setState('connected')
    this.emit('connected', { session: this.session, user: this.user, resumed: this.resumed, reconnect: reconnected })
    this.changed()
    if (reconnected) recoverRooms(this, conn, rejoins ?? undefined).catch((err) => conn.abort(err))
    return { session: this.session, user: this.user, resumed: this.resumed }
  }

  /** onReply sees every reply first: an ack of ours advances its room's stream, even a late one. */
  onReply(f) {
    if (f.type === T.ACK && f.room) this.rooms.get(f.room)?.ack(f.offset)
  }

  /** onConnEnd runs when any connection ends; the current one's end starts a reconnect or closes the client. */
  onConnEnd(conn, cause) {
    if (this.conn !== conn) return
    this.conn = null
    for (const r of this.rooms.values()) {
      r.ready = false
      r.held = []
    }
    this.changed()
    if (this.closedErr) return
    const decision = decideClose(cause)
    if (decision === 'stop' || (decision === 'reconnect-if-new' && this.tokenGen === conn.tokenGen)) {
      this.finish(cause)
      return
    }
    reconnect(this, cause).catch((err) => this.finish(err))
  }

  /**
   * awaitConn waits for the welcomed connection and, when room is tracked,
   * for the room to be joined again on it. bounded limits the wait to the
   * request timeout.
   */
  async awaitConn(room, bounded, signal) {
    const timeout = this.opts.requestTimeoutMs
    const deadline = bounded ? Date.now() + timeout : Infinity
    for (;;) {
      if (this.closedErr) throw this.closedErr
      if (signal?.aborted) throw signal.reason
      const conn = this.conn
      const r = room ? this.rooms.get(room) : undefined
      if (conn && (!r || r.ready)) return conn
      const left = deadline - Date.now()
      if (left <= 0) throw new DisconnectedError(`no connection within ${timeout} ms`)
      await this.waitChange(left, signal)
    }
  }

  /**
   * attempts sends a request until it is answered, and reports how many
   * times it was sent. req: { room, frame(id), want, hook, retry, signal }.
   * With retry the request is idempotent: it is sent again after a timeout,
   * a lost connection (once room is rejoined), unavailable and rate_limited
   * (after a backoff). Otherwise it is sent once, and waits for a
   * connection at most the request timeout.
   */
  async attempts(req) {
    let sent = 0
    let retries = 0
    for (;;) {
      const conn = await this.awaitConn(req.room, !req.retry, req.signal)
      sent++
      try {
        const f = await conn.request(req.frame(this.nextId()), { hook: req.hook, signal: req.signal })
        if (f.type !== req.want) throw new TroupeError(`${req.want} expected, the server answered ${f.type}`)
        return { frame: f, sent }
      } catch (err) {
        if (this.closedErr) throw this.closedErr
        if (req.signal?.aborted) throw req.signal.reason
        if (!req.retry) throw err
        if (err instanceof DisconnectedError || err instanceof TimeoutError) continue
        if (!(err instanceof ServerError) || !retryableCode(err.code)) throw err
        if (!(await delay(backoffDelay(retries++, this.opts.retry), this.lifetime.signal, req.signal))) {
          throw this.closedErr ?? req.signal.reason
        }
      }
    }
  }

  /** close ends the client: the connection is closed with 1000 and nothing reconnects. */
  close() {
    if (this.closedErr) return
    this.closedErr = new ClientClosedError()
    const { conn, dialing } = this
    this.conn = null
    this.lifetime.abort(this.closedErr)
    this.changed()
    conn?.close(this.closedErr)
    dialing?.abort(this.closedErr)
    this.setState('closed', { code: CloseCodes.NORMAL })
    this.emit('closed', { code: CloseCodes.NORMAL, error: null })
    this.events.end()
  }

  /** finish closes the client for good because of cause (a close it must not reconnect after). */
  finish(cause) {
    if (this.closedErr) return
    this.closedErr = new ClientClosedError(cause)
    const conn = this.conn
    this.conn = null
    this.lifetime.abort(this.closedErr)
    this.changed()
    conn?.abort(this.closedErr)
    const code = closeCode(cause)
    this.setState('closed', { code, error: cause })
    this.emit('closed', { code, error: cause })
    this.events.end()
  }
}
