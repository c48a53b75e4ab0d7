// Unit tests of the client's rules that need no server: which closes are
// reconnected after, URLs, options, and a room stream's bookkeeping.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { ClientClosedError, CloseError, DisconnectedError, ServerError, TroupeClient, closeCode } from '../src/index.js'
import { decideClose } from '../src/errors.js'
import { wsUrl } from '../src/options.js'
import { EventQueue } from '../src/events.js'
import { RoomStream, applyRejoin, pushMessages } from '../src/rooms.js'

describe('close decisions', () => {
  test('reconnect after passing trouble, not after policy, kicks, expiry, takeover or a normal close', () => {
    const table = {
      1000: 'stop',
      1001: 'reconnect',
      1006: 'reconnect',
      1011: 'reconnect',
      1013: 'reconnect',
      4000: 'reconnect',
      4001: 'reconnect',
      1008: 'reconnect-if-new',
      4002: 'reconnect-if-new',
      4003: 'reconnect-if-new',
      4004: 'stop',
    }
    for (const [code, want] of Object.entries(table)) {
      assert.equal(decideClose(new CloseError(Number(code))), want, `close ${code}`)
    }
    assert.equal(decideClose(new Error('ECONNRESET')), 'reconnect', 'a network error')
    assert.equal(decideClose(new DisconnectedError('gone', new CloseError(4004))), 'stop', 'a close behind a disconnect')
  })

  test('closeCode looks through causes', () => {
    assert.equal(closeCode(null), 0)
    assert.equal(closeCode(new CloseError(1013)), 1013)
    assert.equal(closeCode(new ClientClosedError(new CloseError(4003))), 4003)
    assert.equal(closeCode(new ServerError('unauthorized', 'bad token')), 1006)
  })
})

describe('options', () => {
  test('the endpoint is <base>/ws on a ws(s) URL', () => {
    assert.equal(wsUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/ws')
    assert.equal(wsUrl('https://chat.example/app/'), 'wss://chat.example/app/ws')
    assert.equal(wsUrl('ws://h:1/ws'), 'ws://h:1/ws')
    assert.equal(wsUrl('wss://h/base#x'), 'wss://h/base/ws')
    assert.throws(() => wsUrl('ftp://h'), /scheme/)
  })

  test('every bad option is reported at once', () => {
    assert.throws(
      () => new TroupeClient({ requestTimeoutMs: -1, reconnect: { minMs: 10, maxMs: 5 }, WebSocket: 'no' }),
      (err) =>
        err instanceof TypeError &&
        /url is required/.test(err.message) &&
        /requestTimeoutMs/.test(err.message) &&
        /reconnect needs/.test(err.message) &&
        /no WebSocket/.test(err.message),
    )
    const c = new TroupeClient({ url: 'http://127.0.0.1:1' })
    assert.equal(c.state, 'idle')
    assert.equal(c.user, null)
    assert.equal(c.session, null)
  })
})

describe('room stream', () => {
  test('own acked messages are skipped, never delivered, and close gaps in order', () => {
    const r = new RoomStream('r', '', 'e1', 3)
    r.ack(5) // ours, stored after 4 which is not delivered yet
    assert.equal(r.last, 3)
    assert.ok(r.isNew(4))
    r.advance(4)
    assert.equal(r.last, 5, 'delivering 4 skips over our 5')
    assert.ok(!r.isNew(5), 'ours is never delivered')
    assert.ok(!r.isNew(2), 'an old offset is never delivered again')
    r.ack(7)
    assert.ok(!r.isNew(7), 'a replay of our own message only advances the stream')
    assert.equal(r.last, 7)
    assert.deepEqual(r.position(), { epoch: 'e1', offset: 7 })
  })
})

/** fakeCore records what the stream functions emit. */
function fakeCore() {
  const emitted = []
  return { rooms: new Map(), emitted, emit: (type, detail) => emitted.push({ type, detail }), changed() {} }
}

const wire = (offset) => ({ id: `m${offset}`, offset, ts: 1, from: { id: 'u', name: 'u' }, kind: 'text', text: String(offset), data: null, reply_to: null })

describe('recovery of a stream', () => {
  test('replayed messages come first, in order; pushes held during the rejoin follow; no offset twice', () => {
    const core = fakeCore()
    const r = new RoomStream('r', '', 'e1', 3)
    core.rooms.set('r', r)
    r.ready = false
    pushMessages(core, null, 'r', [wire(6), wire(7)]) // pushed before the rejoin's reply: held
    assert.equal(core.emitted.length, 0)
    const recovered = applyRejoin(core, r, { room: 'r', epoch: 'e1', offset: 6, recovered: true, messages: [wire(6), wire(4), wire(5)] })
    assert.equal(recovered, true)
    const seen = core.emitted.map((e) => (e.type === 'message' ? [e.detail.offset, e.detail.replayed] : e.type))
    assert.deepEqual(seen, ['recovery', [4, true], [5, true], [6, true], [7, false]])
    assert.deepEqual(core.emitted[0].detail, { room: 'r', epoch: 'e1', recovered: true, epochChanged: false, from: 3, to: 6, replayed: 3 })
    assert.ok(r.ready)
    pushMessages(core, null, 'r', [wire(7), wire(8)])
    assert.deepEqual(core.emitted.slice(5).map((e) => e.detail.offset), [8], 'a live push of 7 again is dropped')
  })

  test('our own acked messages are not replayed to us', () => {
    const core = fakeCore()
    const r = new RoomStream('r', '', 'e1', 3)
    r.ack(5)
    r.ready = false
    applyRejoin(core, r, { room: 'r', epoch: 'e1', offset: 5, recovered: true, messages: [wire(4), wire(5)] })
    assert.equal(core.emitted[0].detail.replayed, 1)
    assert.deepEqual(core.emitted.slice(1).map((e) => e.detail.offset), [4])
    assert.equal(r.last, 5)
  })

  test('a new epoch is a gap: offsets start over and say so', () => {
    const core = fakeCore()
    const r = new RoomStream('r', '', 'old', 10)
    r.ready = false
    const recovered = applyRejoin(core, r, { room: 'r', epoch: 'new', offset: 2, recovered: false, messages: [wire(1), wire(2)] })
    assert.equal(recovered, false)
    assert.deepEqual(core.emitted[0].detail, { room: 'r', epoch: 'new', recovered: false, epochChanged: true, from: 10, to: 2, replayed: 2 })
    assert.deepEqual(core.emitted.slice(1).map((e) => [e.detail.offset, e.detail.epoch]), [[1, 'new'], [2, 'new']])
    assert.deepEqual(r.position(), { epoch: 'new', offset: 2 })
  })
})

describe('event queue', () => {
  test('an event emitted by a listener waits for the listeners of the event before it', () => {
    const target = new EventTarget()
    const q = new EventQueue(target)
    const log = []
    target.addEventListener('a', () => {
      q.emit('b', 2)
      log.push('a done')
    })
    target.addEventListener('b', (e) => log.push(`b ${e.detail}`))
    target.addEventListener('a', () => log.push('a second listener'))
    q.emit('a', 1)
    assert.deepEqual(log, ['a done', 'a second listener', 'b 2'])
    q.end()
    q.emit('b', 3)
    assert.equal(log.length, 3, 'nothing after end')
  })
})
