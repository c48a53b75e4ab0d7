// Integration tests of the document binding (docUpdate, docSync,
// docSnapshot and doc events) against a real troupe server.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { decodeBase64, encodeBase64 } from '../src/doc.js'
import { ServerError } from '../src/index.js'
import { connectClient, offsets, seq } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { startServer } from '../test-support/server.js'

const bytes = (...b) => new Uint8Array(b)
const text = (s) => new TextEncoder().encode(s)
const str = (b) => new TextDecoder().decode(b)

describe('base64', () => {
  test('round-trips every byte value and large updates', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    assert.equal(encodeBase64(all), Buffer.from(all).toString('base64'))
    assert.deepEqual(decodeBase64(encodeBase64(all)), all)
    const big = Uint8Array.from({ length: 200000 }, (_, i) => (i * 7919) & 0xff)
    assert.equal(encodeBase64(big), Buffer.from(big).toString('base64'))
    assert.deepEqual(decodeBase64(Buffer.from(big).toString('base64')), big)
    assert.equal(encodeBase64(new Uint8Array(0)), '')
    assert.throws(() => decodeBase64('not base64!'), /malformed base64/)
  })
})

describe('documents', () => {
  test('an update is acked once per cid and reaches the others as a doc event, never a message event', async (t) => {
    const srv = await startServer(t)
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('notes')
    await bob.join('notes')

    const ack = await alice.docUpdate('notes', bytes(1, 2, 3), { cid: 'c-doc-1' })
    assert.equal(ack.offset, 1)
    assert.equal(ack.dup, false)
    const again = await alice.docUpdate('notes', bytes(1, 2, 3), { cid: 'c-doc-1' })
    assert.deepEqual({ offset: again.offset, msgId: again.msgId, dup: again.dup }, { offset: 1, msgId: ack.msgId, dup: true })

    const ev = await bobEv.next('doc')
    assert.deepEqual(ev, {
      room: 'notes', id: ack.msgId, offset: 1, ts: ack.ts, from: alice.user, data: bytes(1, 2, 3), epoch: ev.epoch, replayed: false,
    })
    // A chat message after it is the barrier: bob saw it, and no message event for the update.
    await alice.send('notes', { text: 'after the update' })
    const msgs = await bobEv.untilMessages('notes', 1)
    assert.deepEqual(msgs.map((m) => [m.offset, m.kind, m.text]), [[2, 'text', 'after the update']])
    assert.equal(bobEv.of('doc').length, 1)
    assert.equal(aliceEv.of('doc').length, 0, 'the sender does not get its own update back')
    assert.equal(alice.position('notes').offset, 2)

    // kind doc is reserved for doc_update; an empty update is refused.
    await assert.rejects(alice.send('notes', { kind: 'doc', data: 'AQID' }), (err) => err instanceof ServerError && err.code === 'invalid')
    await assert.rejects(alice.docUpdate('notes', new Uint8Array(0)), (err) => err instanceof ServerError && err.code === 'invalid')
    await assert.rejects(alice.docUpdate('elsewhere', bytes(1)), (err) => err instanceof ServerError && err.code === 'not_joined')
    await assert.rejects(alice.docUpdate('notes', 'not bytes'), TypeError)
  })

  test('docSync pages through every update; a snapshot starts it over from its offset', async (t) => {
    const srv = await startServer(t, '--rate-limit', '0')
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    await alice.join('log')
    for (let i = 1; i <= 25; i++) {
      if (i === 10) await alice.send('log', { text: 'chat in between' }) // offset 10, not an update
      await alice.docUpdate('log', text(`u${i}`))
    }
    // Offsets: updates 1..9 at 1..9, the message at 10, updates 10..25 at 11..26.
    const all = await alice.docSync('log', { limit: 7 })
    assert.equal(all.snapshot, null)
    assert.equal(all.gap, false)
    assert.equal(all.offset, 26)
    assert.deepEqual(all.updates.map((u) => str(u.data)), seq(1, 25).map((i) => `u${i}`))
    assert.deepEqual(offsets(all.updates), [...seq(1, 9), ...seq(11, 26)])
    assert.ok(all.updates.every((u) => u.room === 'log' && u.from.id === alice.user.id && /^m_/.test(u.id)))

    const tail = await alice.docSync('log', { after: 20 })
    assert.deepEqual(offsets(tail.updates), seq(21, 26))
    const none = await alice.docSync('log', { after: 26 })
    assert.deepEqual({ updates: none.updates, offset: none.offset, snapshot: none.snapshot }, { updates: [], offset: 26, snapshot: null })

    const stored = await alice.docSnapshot('log', 20, text('state through 20'))
    assert.deepEqual(stored, { room: 'log', offset: 20, stored: true })
    const older = await alice.docSnapshot('log', 15, text('state through 15'))
    assert.deepEqual(older, { room: 'log', offset: 20, stored: false })
    await assert.rejects(alice.docSnapshot('log', 99, text('beyond the end')), (err) => err instanceof ServerError && err.code === 'invalid')

    const fresh = await alice.docSync('log')
    assert.equal(fresh.snapshot.offset, 20)
    assert.equal(str(fresh.snapshot.data), 'state through 20')
    assert.deepEqual(offsets(fresh.updates), seq(21, 26))
    assert.equal(fresh.offset, 26)
    // A reader already past the snapshot gets only the updates after its offset.
    const past = await alice.docSync('log', { after: 23 })
    assert.equal(past.snapshot, null)
    assert.deepEqual(offsets(past.updates), seq(24, 26))
  })

  test('updates missed across a reconnect come as replayed doc events, in order, each once', async (t) => {
    const srv = await startServer(t)
    const { WebSocket, ctl } = faultySocket()
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice', WebSocket })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('notes')
    await bob.join('notes')
    await bob.docUpdate('notes', bytes(1))
    await aliceEv.next('doc', (d) => d.offset === 1)

    ctl.closeGate()
    await srv.killConns(2)
    await bobEv.next('recovered')
    await bob.docUpdate('notes', bytes(2))
    await bob.send('notes', { text: 'chat while alice is away' })
    await bob.docUpdate('notes', bytes(3))
    ctl.openGate()
    await aliceEv.next('recovered')
    const docs = await aliceEv.until('3 doc events', () => aliceEv.of('doc').length >= 3).then(() => aliceEv.of('doc'))
    assert.deepEqual(docs.map((d) => [d.offset, d.data[0], d.replayed]), [[1, 1, false], [2, 2, true], [4, 3, true]])
    assert.deepEqual(aliceEv.messages('notes').map((m) => [m.offset, m.text]), [[3, 'chat while alice is away']])
    // An update alice sends after the rejoin reaches bob.
    await alice.docUpdate('notes', bytes(4))
    assert.equal((await bobEv.next('doc', (d) => d.from.id === alice.user.id)).offset, 5)
  })
})
