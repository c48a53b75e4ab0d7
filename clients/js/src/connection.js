// Connection is one WebSocket: it writes frames, matches replies to pending
// requests by id, hands every other frame to its owner and reports how it
// ended. It never reconnects; the client replaces it.

import { CloseCodes, CloseError, DisconnectedError, FrameTooLargeError, ServerError, TimeoutError } from './errors.js'
import { T, parseFrame } from './frames.js'
import { SUBPROTOCOL } from './options.js'
import { utf8Length } from './util.js'

const OPEN = 1 // WebSocket.OPEN

export class Connection {
  /**
   * @param {object} o
   * @param {Function} o.WebSocket constructor
   * @param {string} o.url the endpoint
   * @param {number} o.timeoutMs bound of the handshake and of each request
   * @param {() => number} o.nextId request ids, unique across connections
   * @param {(f: object) => void} o.onReply sees every reply before its request does
   * @param {(f: object) => void} o.onPush receives every frame without id
   * @param {(conn: Connection, cause: Error) => void} o.onEnd called once, when the connection ends
   */
  constructor(o) {
    // Static after construction.
    this.o = o
    this.timeoutMs = o.timeoutMs
    // Set by the client once the hello is answered.
    this.tokenGen = 0 // the client's token generation the hello carried
    this.reconnected = false // not the client's first connection
    this.frameLimit = 0 // the server's frame limit in bytes (0: unknown)

    this.ws = null
    this.calls = new Map() // id → pending request
    this.opening = null // the pending open(), until the socket opens or ends
    this.ended = false
    this.cause = null // why the connection ended (the first reason wins)
    this.lastFrameAt = Date.now()
    this.livenessTimer = null
    this.endController = new AbortController()
    /** Aborted when the connection ends. */
    this.done = this.endController.signal
  }

  /** open starts the WebSocket handshake; it resolves when the socket is open. */
  open() {
    return new Promise((resolve, reject) => {
      let ws
      try {
        ws = new this.o.WebSocket(this.o.url, [SUBPROTOCOL])
      } catch (err) {
        this.end(err)
        reject(err)
        return
      }
      this.ws = ws
      const timer = setTimeout(
        () => this.abort(new TimeoutError(`no WebSocket handshake within ${this.timeoutMs} ms`, this.timeoutMs)),
        this.timeoutMs,
      )
      this.opening = { resolve, reject, timer }
      ws.addEventListener('open', () => {
        if (this.ended || !this.opening) return
        clearTimeout(timer)
        this.opening = null
        this.lastFrameAt = Date.now()
        resolve()
      })
      ws.addEventListener('message', (ev) => this.onMessage(ev))
      ws.addEventListener('close', (ev) => this.end(new CloseError(ev.code || CloseCodes.ABNORMAL, ev.reason || '')))
      ws.addEventListener('error', () => {}) // a close event follows with the details there are
    })
  }

  onMessage(ev) {
    if (this.ended) return // a frame after an abort must not be delivered
    this.lastFrameAt = Date.now()
    if (typeof ev.data !== 'string') return // binary frames are not troupe.v1
    const f = parseFrame(ev.data)
    if (!f) return
    if (f.id) {
      this.o.onReply(f)
      const call = this.calls.get(f.id)
      if (!call) return // a late reply: its request timed out
      if (f.type === T.ERROR) {
        call.fail(new ServerError(f.code ?? 'internal', f.message ?? ''))
        return
      }
      if (call.hook) {
        try {
          call.hook(f)
        } catch (err) {
          call.fail(err)
          return
        }
      }
      call.ok(f)
      return
    }
    this.o.onPush(f)
  }

  /**
   * request sends frame (with its id) and resolves with the reply, or
   * rejects with a ServerError (error frame), TimeoutError,
   * DisconnectedError or signal's reason. hook runs with the reply before
   * the next frame is handled.
   */
  request(frame, { hook, signal } = {}) {
    if (this.ended) return Promise.reject(new DisconnectedError('disconnected', this.cause))
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      const id = frame.id
      const cleanup = () => {
        clearTimeout(timer)
        if (this.calls.get(id) === call) this.calls.delete(id)
        signal?.removeEventListener('abort', onAbort)
      }
      const call = {
        hook,
        ok: (f) => {
          cleanup()
          resolve(f)
        },
        fail: (err) => {
          cleanup()
          reject(err)
        },
      }
      const onAbort = () => call.fail(signal.reason)
      const timer = setTimeout(
        () => call.fail(new TimeoutError(`no reply to ${frame.type} within ${this.timeoutMs} ms`, this.timeoutMs)),
        this.timeoutMs,
      )
      this.calls.set(id, call)
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        this.write(frame)
      } catch (err) {
        // A socket that is closing reports why it ended soon: end() fails
        // the call with that cause.
        if (!(err instanceof DisconnectedError) || this.ended) call.fail(err)
      }
    })
  }

  /** write sends frame as one JSON text frame. */
  write(frame) {
    if (this.ended || this.ws?.readyState !== OPEN) {
      throw new DisconnectedError('the connection is not open', this.cause ?? undefined)
    }
    const text = JSON.stringify(frame)
    if (this.frameLimit > 0 && text.length * 3 > this.frameLimit) {
      const bytes = utf8Length(text)
      if (bytes > this.frameLimit) throw new FrameTooLargeError(bytes, this.frameLimit)
    }
    this.ws.send(text)
  }

  /**
   * welcomed applies the welcome: the frame limit, and a liveness check. The
   * server's pings are invisible to a WebSocket API, so after a heartbeat
   * interval with no frame from the server the connection sends a ping
   * request; no pong within the request timeout drops the connection.
   */
  welcomed(f) {
    this.frameLimit = f.limits?.frame_bytes > 0 ? f.limits.frame_bytes : 0
    const interval = f.heartbeat?.interval_ms
    if (interval > 0) this.watch(interval)
  }

  watch(intervalMs) {
    const check = () => {
      if (this.ended) return
      const quiet = Date.now() - this.lastFrameAt
      if (quiet < intervalMs) {
        this.livenessTimer = setTimeout(check, intervalMs - quiet)
        return
      }
      this.request({ type: T.PING, id: this.o.nextId() }).then(
        () => {
          if (!this.ended) this.livenessTimer = setTimeout(check, intervalMs)
        },
        (err) => {
          if (err instanceof TimeoutError) {
            this.abort(new TimeoutError(`the server went quiet: no pong within ${this.timeoutMs} ms`, this.timeoutMs))
          } else if (!this.ended) {
            this.livenessTimer = setTimeout(check, intervalMs)
          }
        },
      )
    }
    this.livenessTimer = setTimeout(check, intervalMs)
  }

  /**
   * abort ends the connection at once for cause; the socket is closed in
   * the background and nothing more is read from it.
   */
  abort(cause) {
    if (this.ended) return
    this.closeSocket()
    this.end(cause)
  }

  /** close ends the connection with a normal close (1000). */
  close(cause) {
    this.abort(cause)
  }

  closeSocket() {
    try {
      this.ws?.close(CloseCodes.NORMAL)
    } catch {
      // Already closing, or never opened: nothing to do.
    }
  }

  /** end records why the connection ended and fails its pending requests. */
  end(cause) {
    if (this.ended) return
    this.ended = true
    this.cause = cause
    clearTimeout(this.livenessTimer)
    if (this.opening) {
      clearTimeout(this.opening.timer)
      this.opening.reject(cause)
      this.opening = null
    }
    const calls = [...this.calls.values()]
    this.calls.clear()
    for (const call of calls) call.fail(new DisconnectedError('disconnected before the reply', cause))
    this.endController.abort(cause)
    this.o.onEnd(this, cause)
  }
}
