// Integration tests of the Yjs provider (@troupe/client/yjs): real Y.Doc
// instances synced through a real troupe server.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import * as Y from 'yjs'

import { bundle } from '../build/web-vendor.js'
import { TroupeYjsProvider } from '../src/yjs.js'
import { WAIT_MS, connectClient } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { API_KEY, startServer } from '../test-support/server.js'

/** untilText resolves once ydoc's text 't' satisfies cond, re-checking on every update of the doc. */
function untilText(ydoc, what, cond) {
  const ytext = ydoc.getText('t')
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond(ytext.toString())) return
      ydoc.off('update', check)
      clearTimeout(timer)
      resolve(ytext.toString())
    }
    const timer = setTimeout(() => {
      ydoc.off('update', check)
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; text is ${JSON.stringify(ytext.toString())}`))
    }, WAIT_MS)
    ydoc.on('update', check)
    check()
  })
}

/** nextEvent resolves with the detail of target's next event of type that matches. */
function nextEvent(target, type, match = () => true) {
  return new Promise((resolve, reject) => {
    const on = (e) => {
      if (!match(e.detail)) return
      target.removeEventListener(type, on)
      clearTimeout(timer)
      resolve(e.detail)
    }
    const timer = setTimeout(() => {
      target.removeEventListener(type, on)
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${type}`))
    }, WAIT_MS)
    target.addEventListener(type, on)
  })
}

/** openDoc connects a client named name and syncs a fresh Y.Doc with room through a provider. */
async function openDoc(t, url, name, room, { WebSocket, snapshotEvery } = {}) {
  const { client, rec } = await connectClient(t, url, { name, ...(WebSocket ? { WebSocket } : {}) })
  const doc = new Y.Doc()
  const provider = new TroupeYjsProvider(client, room, doc, snapshotEvery === undefined ? {} : { snapshotEvery })
  t.after(() => provider.destroy())
  const errors = []
  provider.addEventListener('error', (e) => errors.push(e.detail.error))
  await provider.whenSynced()
  return { client, rec, doc, text: doc.getText('t'), provider, errors }
}

describe('Yjs provider', () => {
  test('two docs converge: concurrent edits on both sides end in the same text', async (t) => {
    const srv = await startServer(t)
    const a = await openDoc(t, srv.url, 'alice', 'notes')
    const b = await openDoc(t, srv.url, 'bob', 'notes')
    a.text.insert(0, 'hello')
    await untilText(b.doc, 'hello at bob', (s) => s === 'hello')

    // Both type at once, at the two ends of the text, one character at a time.
    for (const ch of 'ABCDE') {
      a.text.insert(0, ch)
      b.text.insert(b.text.length, ch.toLowerCase())
    }
    const want = 'EDCBAhelloabcde'
    await Promise.all([untilText(a.doc, want, (s) => s === want), untilText(b.doc, want, (s) => s === want)])
    await Promise.all([a.provider.flushed(), b.provider.flushed()])
    assert.equal(a.provider.pending, 0)
    assert.deepEqual([a.errors, b.errors], [[], []])
    // The updates went through the room's stream; no chat message events came of them.
    assert.equal(a.rec.messages('notes').length + b.rec.messages('notes').length, 0)
    assert.ok(b.rec.of('doc').length > 0)
  })

  test('edits made offline converge after a forced drop, nothing lost', async (t) => {
    const srv = await startServer(t)
    const { WebSocket, ctl } = faultySocket()
    const a = await openDoc(t, srv.url, 'alice', 'notes', { WebSocket })
    const b = await openDoc(t, srv.url, 'bob', 'notes')
    a.text.insert(0, 'shared ')
    await untilText(b.doc, 'the first edit at bob', (s) => s === 'shared ')

    // Alice's reconnect is held at the gate: she edits offline while bob edits online.
    ctl.closeGate()
    await srv.killConns(2)
    await a.rec.next('state', (d) => d.state === 'reconnecting')
    for (const w of ['one ', 'two ', 'three ']) a.text.insert(a.text.length, `alice-${w}`)
    assert.ok(a.provider.pending > 0, 'alice holds her offline edits')
    await b.rec.next('recovered')
    for (const w of ['four ', 'five ']) b.text.insert(0, `bob-${w}`)
    await b.provider.flushed()
    assert.equal(a.text.toString().includes('bob-'), false)

    ctl.openGate()
    const want = 'bob-five bob-four shared alice-one alice-two alice-three '
    await Promise.all([untilText(a.doc, want, (s) => s === want), untilText(b.doc, want, (s) => s === want)])
    await a.provider.flushed()
    assert.equal(a.provider.pending, 0)
    assert.equal(a.provider.synced, true)
    assert.deepEqual([a.errors, b.errors], [[], []])

    // A third doc opened now reads the same text from the server alone.
    const c = await openDoc(t, srv.url, 'carol', 'notes')
    assert.equal(c.text.toString(), want)
  })

  test('a fresh doc loads from the snapshot plus the updates after it', async (t) => {
    const srv = await startServer(t, '--rate-limit', '0')
    const a = await openDoc(t, srv.url, 'alice', 'notes', { snapshotEvery: 10 })
    const stored = nextEvent(a.provider, 'snapshot', (d) => d.stored)
    for (let i = 0; i < 12; i++) {
      a.text.insert(a.text.length, String.fromCharCode(97 + i))
      await a.provider.flushed() // one update per character
    }
    const snap = await stored
    assert.ok(snap.offset >= 9 && snap.offset <= 12, `snapshot at ${snap.offset}`)
    for (const ch of 'XYZ') {
      a.text.insert(a.text.length, ch)
      await a.provider.flushed()
    }
    const want = 'abcdefghijklXYZ'

    const { client } = await connectClient(t, srv.url, { name: 'dave' })
    const doc = new Y.Doc()
    const provider = new TroupeYjsProvider(client, 'notes', doc, { snapshotEvery: 0 })
    t.after(() => provider.destroy())
    const synced = nextEvent(provider, 'synced')
    await provider.whenSynced()
    const first = await synced
    assert.ok(first.snapshot >= snap.offset, `loaded from snapshot ${first.snapshot}`)
    assert.ok(first.updates >= 3 && first.updates <= 15 - first.snapshot, `then ${first.updates} updates`)
    assert.equal(first.offset, 15)
    assert.equal(doc.getText('t').toString(), want)
    assert.equal(provider.offset, 15)
  })

  test('a room closed under the providers (crashed past its restarts) is joined again; edits of the gap are not lost', async (t) => {
    const srv = await startServer(t, '--room-restarts', '0')
    const a = await openDoc(t, srv.url, 'alice', 'notes')
    const b = await openDoc(t, srv.url, 'bob', 'notes')
    a.text.insert(0, 'before ')
    await untilText(b.doc, 'the first edit at bob', (s) => s === 'before ')

    const closed = Promise.all([a.rec.next('room_closed'), b.rec.next('room_closed')])
    const resynced = Promise.all([nextEvent(a.provider, 'synced'), nextEvent(b.provider, 'synced')])
    await srv.drill({ kind: 'room-crash', room: 'notes' })
    const reasons = (await closed).map((d) => d.reason)
    assert.deepEqual(reasons, ['crashed', 'crashed'])
    // Alice edits at once: her update meets the closed room (not_joined) or the rejoined one.
    a.text.insert(a.text.length, 'after')
    await resynced
    const want = 'before after'
    await Promise.all([untilText(a.doc, want, (s) => s === want), untilText(b.doc, want, (s) => s === want)])
    await a.provider.flushed()
    assert.deepEqual(a.client.joinedRooms(), ['notes'])
    assert.deepEqual([a.errors, b.errors], [[], []])
    const c = await openDoc(t, srv.url, 'carol', 'notes')
    assert.equal(c.text.toString(), want)
  })

  test('a deleted room ends the syncing with a closed event', async (t) => {
    const srv = await startServer(t)
    const a = await openDoc(t, srv.url, 'alice', 'notes')
    a.text.insert(0, 'doomed')
    await a.provider.flushed()
    const closed = nextEvent(a.provider, 'closed')
    const res = await fetch(`${srv.url}/api/rooms/notes`, { method: 'DELETE', headers: { Authorization: `Bearer ${API_KEY}` } })
    assert.equal(res.status, 204)
    assert.deepEqual(await closed, { reason: 'deleted' })
    assert.equal(a.provider.synced, false)
    a.text.insert(0, 'not sent ')
    assert.equal(a.provider.pending, 1)
    await a.provider.flushed() // resolves: nothing will be sent
    assert.deepEqual(a.client.joinedRooms(), [])
  })

  test('destroy stops syncing and leaves the room the provider joined', async (t) => {
    const srv = await startServer(t)
    const a = await openDoc(t, srv.url, 'alice', 'notes')
    const b = await openDoc(t, srv.url, 'bob', 'notes')
    assert.deepEqual(b.client.joinedRooms(), ['notes'])
    b.provider.destroy()
    assert.deepEqual(b.client.joinedRooms(), [])
    a.text.insert(0, 'after destroy')
    await a.provider.flushed()
    b.text.insert(0, 'local only')
    assert.equal(b.provider.pending, 0, 'a destroyed provider sends nothing')
    assert.equal(a.text.toString(), 'after destroy')
    assert.equal(b.text.toString(), 'local only')
    assert.throws(() => new TroupeYjsProvider(a.client, 'x', new Y.Doc(), { snapshotEvery: -1 }), TypeError)
  })

  test('the committed web vendor bundle is what the build makes', async () => {
    const committed = await readFile(new URL('../../../web/static/vendor/yjs.mjs', import.meta.url), 'utf8')
    assert.ok(committed === (await bundle()), 'web/static/vendor/yjs.mjs is stale: run make web-vendor')
  })
})
