// @troupe/client/yjs: a Yjs provider on a troupe room's shared document
// (../../PROTOCOL.md "Shared documents"). It needs the npm package yjs (a
// peer dependency) and imports nothing else of the client: it works on the
// TroupeClient it is given.
//
// How it keeps a Y.Doc and the room's document the same:
//   - start: join the room (unless the client has), then docSync from 0:
//     the snapshot and every update after it, applied with the provider as
//     origin so that they are not sent back.
//   - local changes (ydoc `update` events of any other origin) are queued
//     and sent with docUpdate, one request at a time, the queue merged into
//     one update per request (within MAX_BATCH bytes). docUpdate retries
//     with its cid until acked, across reconnects too, so an edit made
//     offline is sent after the rejoin, exactly once.
//   - remote changes come as the client's `doc` events and are applied.
//   - after every reconnect (the room's `recovery` event) it syncs again
//     from the offset it had reached: a rejoin that could not replay
//     everything loses nothing. A new epoch (the server lost the room) gets
//     the whole local state sent as one update.
//   - a room closed under it (room_closed: crashed past its restart budget,
//     or moved to another owner) is joined again and synced; an update the
//     server answered not_joined meanwhile is sent again with its cid once
//     the room is back. A deleted room ends the syncing (`closed` event).
//   - every snapshotEvery updates it has seen it uploads
//     Y.encodeStateAsUpdate at `offset`, the offset through which it holds
//     every update of the room (the snapshot covers them all).
//
// Invariant: offset only advances while synced, and then every doc update
// of the room with a smaller or equal offset has been applied to the doc.
// The client delivers a room's stream in order without gaps on a live
// connection; a sync covers [0, reply offset]; the two meet because a sync
// is asked for only after the provider listens. Our own updates are never
// pushed back to us: once one is acked, offset moves up to the client's
// position in the room, which counts them.

import * as Y from 'yjs'

/** DEFAULT_SNAPSHOT_EVERY is how many updates the provider sees between snapshots. */
export const DEFAULT_SNAPSHOT_EVERY = 200

/** newCid returns a random idempotency key for one batch of updates (crypto.randomUUID needs a secure context; getRandomValues does not). */
function newCid() {
  const b = new Uint8Array(16)
  globalThis.crypto.getRandomValues(b)
  return `c-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`
}

/** MAX_BATCH bounds the local updates merged into one doc_update, in bytes (base64 grows it by a third; the frame limit is 64 KiB). */
const MAX_BATCH = 32 * 1024

/**
 * TroupeYjsProvider syncs a Y.Doc with the document of a troupe room. Events
 * (CustomEvents): `synced` {offset, snapshot, updates} after each sync,
 * `snapshot` {offset, stored} after an upload, `error` {error} for an update
 * or snapshot the server refused (the provider goes on), `closed` {reason}
 * when the room was deleted (the provider stops syncing).
 */
export class TroupeYjsProvider extends EventTarget {
  // Static after construction.
  #client
  #room
  #doc
  #snapshotEvery
  #ready // resolves once the first sync is applied

  // Owned by the provider (the client's events and the doc's run on one thread).
  #destroyed = false
  #started = false // the first sync is applied: local updates may go out
  #joinedHere = false // the provider joined the room (and leaves it on destroy)
  #synced = false // offset is valid: a sync completed and nothing was missed since
  #syncing = null // the running sync, or null
  #resync = false // another sync was asked for while one ran
  #offset = 0 // every doc update up to here is in the doc (while synced)
  #seenUnsynced = 0 // the highest doc event offset seen while not synced
  #pending = [] // local updates not yet acked, oldest first
  #flushing = null // the running send loop, or null
  #sinceSnapshot = 0 // updates seen since the last snapshot
  #snapshotting = false
  #snapshotOffset = 0 // the newest snapshot offset the server holds, as far as we know
  #flushWaiters = []
  #closed = false // the room was deleted: nothing more is synced
  #rejoining = null // the running rejoin after room_closed, or null
  #epoch = null // the room's epoch at the last sync
  #onDoc
  #onRecovery
  #onClosed
  #onUpdate

  /**
   * @param {import('./index.js').TroupeClient} client a connected (or connecting) client
   * @param {string} room the room whose document ydoc mirrors
   * @param {Y.Doc} ydoc
   * @param {{snapshotEvery?: number}} [options] snapshotEvery: updates seen between snapshots (0: never)
   */
  constructor(client, room, ydoc, { snapshotEvery = DEFAULT_SNAPSHOT_EVERY } = {}) {
    super()
    if (!Number.isInteger(snapshotEvery) || snapshotEvery < 0) {
      throw new TypeError(`snapshotEvery: a whole number ≥ 0 expected, got ${snapshotEvery}`)
    }
    this.#client = client
    this.#room = room
    this.#doc = ydoc
    this.#snapshotEvery = snapshotEvery
    this.#onDoc = (e) => this.#remote(e.detail)
    this.#onRecovery = (e) => this.#recovered(e.detail)
    this.#onClosed = (e) => this.#roomClosed(e.detail)
    this.#onUpdate = (update, origin) => this.#local(update, origin)
    client.addEventListener('doc', this.#onDoc)
    client.addEventListener('recovery', this.#onRecovery)
    client.addEventListener('room_closed', this.#onClosed)
    ydoc.on('update', this.#onUpdate)
    this.#ready = this.#start()
    // whenSynced is how callers learn of a failed start; this keeps an
    // unobserved failure from being an unhandled rejection.
    this.#ready.catch(() => {})
  }

  /** room is the room whose document the provider mirrors. */
  get room() {
    return this.#room
  }

  /** doc is the Y.Doc the provider keeps in sync. */
  get doc() {
    return this.#doc
  }

  /** synced reports whether the doc holds every update of the room up to offset. */
  get synced() {
    return this.#synced
  }

  /** offset is the offset through which the doc holds every update of the room. */
  get offset() {
    return this.#offset
  }

  /** pending counts local updates not yet acknowledged by the server. */
  get pending() {
    return this.#pending.length
  }

  /** whenSynced resolves once the first sync is applied (rejects when it failed). */
  whenSynced() {
    return this.#ready
  }

  /** flushed resolves once every local update made so far is acknowledged (at once when the provider was destroyed or its room deleted). */
  flushed() {
    if (this.#pending.length === 0 || this.#closed || this.#destroyed) return Promise.resolve()
    return new Promise((resolve) => this.#flushWaiters.push(resolve))
  }

  /** snapshot uploads a snapshot of the doc at offset now (when synced and past the last one); resolves with {offset, stored} or null. */
  async snapshot() {
    if (!this.#synced || this.#offset <= this.#snapshotOffset || this.#destroyed) return null
    const offset = this.#offset
    const res = await this.#client.docSnapshot(this.#room, offset, Y.encodeStateAsUpdate(this.#doc))
    if (res.offset > this.#snapshotOffset) this.#snapshotOffset = res.offset
    this.#emit('snapshot', { offset: res.offset, stored: res.stored })
    return { offset: res.offset, stored: res.stored }
  }

  /** destroy stops syncing: listeners are removed, and the room is left when the provider joined it. Unsent updates stay unsent. */
  destroy() {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#client.removeEventListener('doc', this.#onDoc)
    this.#client.removeEventListener('recovery', this.#onRecovery)
    this.#client.removeEventListener('room_closed', this.#onClosed)
    this.#doc.off('update', this.#onUpdate)
    for (const wake of this.#flushWaiters.splice(0)) wake()
    if (this.#joinedHere) this.#client.leave(this.#room).catch(() => {})
  }

  async #start() {
    if (!this.#client.joinedRooms().includes(this.#room)) {
      await this.#client.join(this.#room)
      this.#joinedHere = true
      if (this.#destroyed) {
        this.#client.leave(this.#room).catch(() => {})
        return
      }
    }
    await this.#sync(0)
    this.#started = true
    this.#flush()
  }

  /** #sync reads the document from `after` on and applies it; a sync asked for while one runs runs after it. */
  #sync(after) {
    if (this.#syncing) {
      this.#resync = true
      return this.#syncing
    }
    this.#syncing = (async () => {
      try {
        let from = after
        for (;;) {
          const res = await this.#client.docSync(this.#room, { after: from })
          if (this.#destroyed) return
          Y.transact(
            this.#doc,
            () => {
              if (res.snapshot) Y.applyUpdate(this.#doc, res.snapshot.data, this)
              for (const u of res.updates) Y.applyUpdate(this.#doc, u.data, this)
            },
            this,
          )
          if (res.snapshot && res.snapshot.offset > this.#snapshotOffset) this.#snapshotOffset = res.snapshot.offset
          this.#sinceSnapshot += res.updates.length
          this.#offset = Math.max(this.#offset, res.offset, this.#seenUnsynced)
          this.#seenUnsynced = 0
          this.#epoch = this.#client.position(this.#room)?.epoch ?? this.#epoch
          this.#synced = true
          this.#emit('synced', { offset: this.#offset, snapshot: res.snapshot?.offset ?? null, updates: res.updates.length })
          if (!this.#resync) break
          // A reconnect came while this sync ran: read on from where it got.
          this.#resync = false
          this.#synced = false
          from = this.#offset
        }
        this.#maybeSnapshot()
      } finally {
        this.#syncing = null
      }
    })()
    return this.#syncing
  }

  /** #remote applies a document update of another connection. */
  #remote(u) {
    if (u.room !== this.#room || this.#destroyed) return
    Y.applyUpdate(this.#doc, u.data, this)
    if (this.#synced) this.#offset = Math.max(this.#offset, u.offset)
    else this.#seenUnsynced = Math.max(this.#seenUnsynced, u.offset)
    this.#seen(1)
  }

  /** #recovered syncs again after the client rejoined the room. */
  #recovered(ev) {
    if (ev.room !== this.#room || this.#destroyed || this.#closed) return
    this.#synced = false
    this.#seenUnsynced = 0
    let after = this.#offset
    if (ev.epochChanged) {
      // The server lost the room's history: our state goes back as one update.
      this.#offset = 0
      this.#snapshotOffset = 0
      after = 0
      this.#pending.push(Y.encodeStateAsUpdate(this.#doc))
    }
    this.#sync(after).catch((error) => this.#emit('error', { error }))
    this.#flush()
  }

  /**
   * #roomClosed handles the room closing under the provider: deleted ends
   * the syncing; any other reason (crashed, moved) joins it again.
   */
  #roomClosed(ev) {
    if (ev.room !== this.#room || this.#destroyed || this.#closed) return
    this.#synced = false
    if (ev.reason === 'deleted') {
      this.#closed = true
      this.#emit('closed', { reason: ev.reason })
      for (const wake of this.#flushWaiters.splice(0)) wake()
      return
    }
    this.#rejoin().catch((error) => this.#emit('error', { error }))
  }

  /** #rejoin joins the room again (once, however many ask) and syncs from where the provider got; a new epoch gets the whole state sent again. */
  #rejoin() {
    this.#rejoining ??= (async () => {
      try {
        this.#synced = false
        const joined = await this.#client.join(this.#room)
        if (this.#destroyed || this.#closed) return
        let after = this.#offset
        if (this.#epoch !== null && joined.epoch !== this.#epoch) {
          // The room's history is gone: our state goes back as one update.
          this.#offset = 0
          this.#snapshotOffset = 0
          after = 0
          this.#pending.push(Y.encodeStateAsUpdate(this.#doc))
        }
        await this.#sync(after)
      } finally {
        this.#rejoining = null
      }
    })()
    return this.#rejoining
  }

  /** #local queues a change made to the doc here. */
  #local(update, origin) {
    if (origin === this || this.#destroyed) return
    this.#pending.push(update)
    this.#flush()
  }

  /** #flush runs the send loop unless it runs already: one doc_update at a time, until nothing is pending. */
  #flush() {
    // Local changes made before the first sync wait for it (the room may not be joined yet).
    if (this.#flushing || this.#destroyed || this.#closed || !this.#started || this.#pending.length === 0) return
    this.#flushing = (async () => {
      try {
        while (this.#pending.length > 0 && !this.#destroyed && !this.#closed) {
          let n = 1
          let bytes = this.#pending[0].length
          while (n < this.#pending.length && bytes + this.#pending[n].length <= MAX_BATCH) bytes += this.#pending[n++].length
          const batch = this.#pending.slice(0, n)
          const update = n === 1 ? batch[0] : Y.mergeUpdates(batch)
          // One cid for the batch, so that sending it again after a rejoin stores it once.
          const cid = newCid()
          for (;;) {
            try {
              await this.#client.docUpdate(this.#room, update, { cid })
              this.#caughtUp()
              break
            } catch (error) {
              if (this.#client.state === 'closed') return
              if (error?.code === 'not_joined' && !this.#destroyed && !this.#closed) {
                // The room closed under us (room_closed is on its way or was handled): send it again once joined.
                try {
                  await this.#rejoin()
                } catch (err) {
                  this.#emit('error', { error: err }) // the next local change tries again
                  return
                }
                if (this.#destroyed || this.#closed) return
                continue
              }
              this.#emit('error', { error }) // refused (too large, say): it is dropped
              break
            }
          }
          this.#pending.splice(0, n)
          this.#seen(n)
        }
      } finally {
        this.#flushing = null
        if (this.#pending.length === 0) for (const wake of this.#flushWaiters.splice(0)) wake()
        else if (!this.#destroyed && !this.#closed && this.#client.state !== 'closed') this.#flush()
      }
    })()
  }

  /**
   * #caughtUp moves offset up to the client's position in the room once one
   * of our updates is acked: the client has delivered every offset up to its
   * position (to #remote, which applied it) or it was ours, so the doc holds
   * them all. Read after an await, never inside a listener, so no delivered
   * event still waits in the client's event queue.
   */
  #caughtUp() {
    if (!this.#synced) return
    const p = this.#client.position(this.#room)
    if (p && p.offset > this.#offset) this.#offset = p.offset
  }

  #seen(n) {
    this.#sinceSnapshot += n
    this.#maybeSnapshot()
  }

  #maybeSnapshot() {
    if (this.#snapshotEvery === 0 || this.#sinceSnapshot < this.#snapshotEvery) return
    if (this.#snapshotting || !this.#synced || this.#offset <= this.#snapshotOffset) return
    this.#snapshotting = true
    this.#sinceSnapshot = 0
    this.snapshot()
      .catch((error) => this.#emit('error', { error }))
      .finally(() => {
        this.#snapshotting = false
      })
  }

  #emit(type, detail) {
    if (!this.#destroyed || type === 'error') this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
