// A WebSocket wrapper for options.WebSocket that lets a test lose frames and
// hold reconnects at a gate, the way a bad network would, while everything
// else goes to a real server through the platform's WebSocket.

/**
 * faultySocket returns {WebSocket, ctl}. ctl.dials counts sockets created;
 * ctl.dropOut(type) swallows outgoing frames of that type until
 * dropOut(null); ctl.dropIn(type) swallows the next incoming frame of that
 * type; ctl.gate (after ctl.closeGate()) holds every socket after the first
 * until ctl.allow(n) or ctl.openGate(); ctl.frames taps the frames of every
 * socket, in the order the client wrote and read them, as {dial, dir
 * ('out' or 'in'), type}.
 */
export function faultySocket() {
  const Real = globalThis.WebSocket
  const ctl = {
    dials: 0,
    frames: [],
    droppedOut: 0,
    droppedIn: 0,
    outType: null,
    inType: null,
    gated: false,
    permits: 0,
    held: [], // starts of sockets waiting at the gate
    onDrop: null, // called with each swallowed frame
    dropOut(type) {
      ctl.outType = type
    },
    dropIn(type) {
      ctl.inType = type
    },
    closeGate() {
      ctl.gated = true
    },
    allow(n = 1) {
      ctl.permits += n
      release()
    },
    openGate() {
      ctl.gated = false
      release()
    },
  }
  const release = () => {
    while (ctl.held.length > 0 && (!ctl.gated || ctl.permits > 0)) {
      if (ctl.gated) ctl.permits--
      ctl.held.shift()()
    }
  }
  const typeOf = (text) => {
    try {
      return JSON.parse(text).type
    } catch {
      return undefined
    }
  }

  class FaultWebSocket extends EventTarget {
    #ws = null
    #dial = 0
    #state = 0 // readyState while no real socket exists

    constructor(url, protocols) {
      super()
      const dial = ++ctl.dials
      this.#dial = dial
      const start = () => {
        if (this.#state === 3) return // closed while held
        const ws = new Real(url, protocols)
        this.#ws = ws
        ws.addEventListener('open', () => this.dispatchEvent(new Event('open')))
        ws.addEventListener('error', () => this.dispatchEvent(new Event('error')))
        ws.addEventListener('close', (ev) => this.#closed(ev.code, ev.reason, ev.wasClean))
        ws.addEventListener('message', (ev) => {
          if (typeof ev.data === 'string') ctl.frames.push({ dial, dir: 'in', type: typeOf(ev.data) })
          if (ctl.inType && typeof ev.data === 'string' && typeOf(ev.data) === ctl.inType) {
            ctl.inType = null
            ctl.droppedIn++
            ctl.onDrop?.(ev.data)
            return
          }
          this.dispatchEvent(new MessageEvent('message', { data: ev.data }))
        })
      }
      if (dial > 1 && ctl.gated) {
        ctl.held.push(start)
        release() // a permit may be waiting
      } else {
        start()
      }
    }

    get readyState() {
      return this.#ws ? this.#ws.readyState : this.#state
    }

    get protocol() {
      return this.#ws?.protocol ?? ''
    }

    send(text) {
      ctl.frames.push({ dial: this.#dial, dir: 'out', type: typeOf(text) })
      if (ctl.outType && typeOf(text) === ctl.outType) {
        ctl.droppedOut++
        ctl.onDrop?.(text)
        return // swallowed: the server never sees it
      }
      this.#ws.send(text)
    }

    close(code, reason) {
      if (this.#ws) {
        this.#ws.close(code, reason)
        return
      }
      if (this.#state === 3) return
      this.#state = 3
      queueMicrotask(() => this.#closed(1006, '', false))
    }

    #closed(code, reason, wasClean) {
      const ev = new Event('close')
      Object.assign(ev, { code, reason, wasClean })
      this.dispatchEvent(ev)
    }
  }

  return { WebSocket: FaultWebSocket, ctl }
}
