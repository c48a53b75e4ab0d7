// Event delivery. Events are CustomEvents dispatched on the client, one at a
// time and in the order the client produced them: an event produced while a
// listener runs (a listener that calls the client, say) waits for the
// listeners of the events before it. Nothing follows the `closed` event.

/** The event types a TroupeClient dispatches. */
export const EVENT_TYPES = Object.freeze([
  'message',
  'doc',
  'presence',
  'typing',
  'signal',
  'direct',
  'notify',
  'system',
  'room_closed',
  'error',
  'state',
  'connected',
  'recovery',
  'recovered',
  'rejoin_failed',
  'closed',
])

/** EventQueue dispatches events on target in order, never re-entrantly. */
export class EventQueue {
  constructor(target) {
    this.target = target // static
    this.queue = []
    this.flushing = false
    this.ended = false // end() was called: nothing more is queued
  }

  emit(type, detail) {
    if (this.ended) return
    this.queue.push(new CustomEvent(type, { detail }))
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.queue.length > 0) {
        // A listener's exception does not reach dispatchEvent: the platform
        // reports it (window.onerror, or Node's uncaughtException).
        this.target.dispatchEvent(this.queue.shift())
      }
    } finally {
      this.flushing = false
    }
  }

  /** end lets the events already queued out, and no others. */
  end() {
    this.ended = true
  }
}
