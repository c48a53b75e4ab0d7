// Shared documents (../../PROTOCOL.md "Shared documents"): a room's document
// is a log of opaque CRDT updates kept in the room's own stream, as messages
// of kind "doc" whose data is the update in standard base64. This file has
// the three requests (doc_update, doc_sync, doc_snapshot), the conversion of
// a kind-doc message into a `doc` event, and base64 for browsers and Node.
//
// Updates are bytes (Uint8Array) in the API and base64 strings on the wire.

import { TroupeError } from './errors.js'
import { T } from './frames.js'
import { newCid } from './util.js'

/** DOC_KIND is the reserved message kind of document updates. */
export const DOC_KIND = 'doc'

/** SYNC_LIMIT is how many updates one doc_sync page asks for (the server's default). */
const SYNC_LIMIT = 1000

/** MAX_SYNC_PAGES bounds the pages of one docSync: a server that always says more is a bug, not a document. */
const MAX_SYNC_PAGES = 100000

/**
 * docUpdate sends one update of room's document and resolves with the ack.
 * Like send it carries a cid and is retried with it (after timeouts,
 * reconnects once the room is joined again, unavailable, rate_limited) until
 * acked: exactly once.
 */
export async function docUpdate(core, room, bytes, { cid, signal } = {}) {
  const data = encodeBase64(toBytes(bytes, 'docUpdate'))
  const key = cid || newCid()
  const { frame: f, sent } = await core.attempts({
    room,
    frame: (id) => ({ type: T.DOC_UPDATE, id, room, data, cid: key }),
    want: T.ACK,
    retry: true,
    signal,
  })
  return { room: f.room ?? room, msgId: f.msg_id, offset: f.offset, ts: f.ts, dup: Boolean(f.dup), cid: key, attempts: sent }
}

/**
 * docSync reads room's document from offset `after` on, page by page until
 * the server has no more: the snapshot (when the room holds one past
 * `after`), then the updates after it in ascending offsets, and the offset
 * the reader now stands at. When updates it needs were trimmed and no
 * snapshot covers them (the reply says gap), it reads again from 0 and
 * reports gap: true.
 */
export async function docSync(core, room, { after = 0, limit = SYNC_LIMIT, signal } = {}) {
  let from = after
  let snapshot = null
  let updates = []
  let gap = false
  for (let pages = 0; pages < MAX_SYNC_PAGES; pages++) {
    const { frame: f } = await core.attempts({
      room,
      frame: (id) => ({ type: T.DOC_SYNC, id, room, after: from, limit }),
      want: T.DOC_SYNC,
      retry: true,
      signal,
    })
    if (f.gap && !gap && from > 0) {
      // What we would need is gone; start over from the snapshot.
      gap = true
      from = 0
      snapshot = null
      updates = []
      continue
    }
    if (f.snapshot) {
      snapshot = toSnapshot(f.snapshot)
      updates = [] // the snapshot covers whatever came before it
    }
    for (const m of Array.isArray(f.updates) ? f.updates : []) {
      if (m.kind === DOC_KIND) updates.push(toDocUpdate(room, m))
    }
    const offset = typeof f.offset === 'number' ? f.offset : from
    if (!f.more || offset <= from) return { room, snapshot, updates, offset, gap }
    from = offset
  }
  throw new TroupeError(`doc_sync of ${room} did not end after ${MAX_SYNC_PAGES} pages`)
}

/**
 * docSnapshot uploads a snapshot of room's document that covers every
 * update with offset ≤ offset. It resolves with {room, offset, stored}:
 * stored false when the room already holds one at that offset or later
 * (offset is then the kept one's).
 */
export async function docSnapshot(core, room, offset, bytes, { signal } = {}) {
  const data = encodeBase64(toBytes(bytes, 'docSnapshot'))
  const { frame: f } = await core.attempts({
    room,
    frame: (id) => ({ type: T.DOC_SNAPSHOT, id, room, offset, data }),
    want: T.DOC_SNAPSHOT,
    retry: true,
    signal,
  })
  return { room: f.room ?? room, offset: f.offset ?? offset, stored: Boolean(f.stored) }
}

/** toDocUpdate converts a kind-doc message of room (wire or converted form) into {room, id, offset, ts, from, data: bytes}. */
export function toDocUpdate(room, m) {
  return {
    room,
    id: m.id,
    offset: m.offset,
    ts: m.ts,
    from: { id: m.from?.id ?? '', name: m.from?.name ?? '' },
    data: decodeBase64(typeof m.data === 'string' ? m.data : ''),
  }
}

function toSnapshot(s) {
  return { offset: s.offset ?? 0, ts: s.ts ?? 0, data: decodeBase64(typeof s.data === 'string' ? s.data : '') }
}

function toBytes(b, what) {
  if (b instanceof Uint8Array) return b
  if (b instanceof ArrayBuffer) return new Uint8Array(b)
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  throw new TypeError(`${what}: the update must be a Uint8Array`)
}

// Base64 through btoa and atob, which browsers and Node 16+ both have, over
// "binary strings" (one char per byte), built in chunks so that a large
// update does not overflow String.fromCharCode's argument list.
const CHUNK = 0x8000

/** encodeBase64 returns bytes in standard base64 with padding. */
export function encodeBase64(bytes) {
  let bin = ''
  for (let i = 0; i < bytes.length; i += CHUNK) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK))
  }
  return btoa(bin)
}

/** decodeBase64 returns the bytes of standard base64 s; malformed input throws a TroupeError. */
export function decodeBase64(s) {
  let bin
  try {
    bin = atob(s)
  } catch (err) {
    throw new TroupeError('malformed base64 in a document update', { cause: err })
  }
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}
