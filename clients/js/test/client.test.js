// Integration tests of requests and events against a real troupe server.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { ServerError, TimeoutError } from '../src/index.js'
import { connectClient, offsets } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { startServer } from '../test-support/server.js'

describe('requests and events', () => {
  test('two clients: join, presence, send, ack, receive, typing, history, rooms, direct, ping', async (t) => {
    const srv = await startServer(t)
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    assert.equal(alice.state, 'connected')
    assert.match(alice.session, /^s_/)
    assert.equal(alice.user.name, 'alice')
    assert.deepEqual(
      aliceEv.of('state').map((s) => s.state),
      ['connecting', 'connected'],
    )
    const connected = await aliceEv.next('connected')
    assert.deepEqual(connected, { session: alice.session, user: alice.user, resumed: false, reconnect: false })

    const joinedA = await alice.join('lobby')
    assert.equal(joinedA.room, 'lobby')
    assert.equal(joinedA.offset, 0)
    assert.equal(joinedA.recovered, false)
    assert.deepEqual(joinedA.members, [alice.user])
    const joinedB = await bob.join('lobby')
    assert.equal(joinedB.epoch, joinedA.epoch)
    assert.deepEqual(joinedB.members.map((m) => m.id).sort(), [alice.user.id, bob.user.id].sort())
    const diff = await aliceEv.next('presence')
    assert.deepEqual(diff, { room: 'lobby', joins: [bob.user], leaves: [] })
    assert.deepEqual(alice.position('lobby'), { epoch: joinedA.epoch, offset: 0 })

    const first = await alice.send('lobby', { text: 'hello' })
    assert.equal(first.room, 'lobby')
    assert.equal(first.offset, 1)
    assert.equal(first.dup, false)
    assert.equal(first.attempts, 1)
    assert.match(first.cid, /^c-[0-9a-f-]{36}$/)
    assert.match(first.msgId, /^m_/)
    const second = await alice.send('lobby', { text: 'with data', data: { n: 2, tags: ['x'] }, kind: 'note', replyTo: first.msgId, cid: 'my-cid-2' })
    assert.equal(second.cid, 'my-cid-2')
    assert.equal(second.offset, 2)

    const got = await bobEv.untilMessages('lobby', 2)
    assert.deepEqual(got[0], {
      room: 'lobby',
      id: first.msgId,
      offset: 1,
      ts: first.ts,
      from: alice.user,
      kind: 'text',
      text: 'hello',
      data: null,
      replyTo: null,
      epoch: joinedA.epoch,
      replayed: false,
    })
    assert.deepEqual(got[1], {
      room: 'lobby',
      id: second.msgId,
      offset: 2,
      ts: second.ts,
      from: alice.user,
      kind: 'note',
      text: 'with data',
      data: { n: 2, tags: ['x'] },
      replyTo: first.msgId,
      epoch: joinedA.epoch,
      replayed: false,
    })
    assert.equal(aliceEv.messages('lobby').length, 0, 'the sending connection gets acks, not its own messages')
    assert.deepEqual(alice.position('lobby'), { epoch: joinedA.epoch, offset: 2 }, 'own acks advance the stream')

    // Bob answers; alice receives it after her own two.
    const reply = await bob.send('lobby', { text: 'hi alice' })
    const atAlice = await aliceEv.untilMessages('lobby', 1)
    assert.deepEqual(offsets(atAlice), [3])
    assert.equal(atAlice[0].id, reply.msgId)

    await alice.typing('lobby', true)
    assert.deepEqual(await bobEv.next('typing'), { room: 'lobby', user: alice.user, on: true })

    const members = await bob.presence('lobby')
    assert.deepEqual(
      members.map((m) => [m.id, m.conns]).sort(),
      [[alice.user.id, 1], [bob.user.id, 1]].sort(),
    )

    const page = await bob.history('lobby', { limit: 2 })
    assert.deepEqual(offsets(page.messages), [2, 3])
    assert.equal(page.more, true)
    const older = await bob.history('lobby', { before: 2 })
    assert.deepEqual(offsets(older.messages), [1])
    assert.equal(older.more, false)
    const newer = await bob.history('lobby', { after: 1, limit: 1 })
    assert.deepEqual(offsets(newer.messages), [2])
    assert.equal(newer.messages[0].replyTo, first.msgId)

    assert.deepEqual(await alice.rooms(), [{ room: 'lobby', members: 2, private: false }])

    const sent = await alice.direct(bob.user.id, 'psst', { secret: true })
    const direct = await bobEv.next('direct')
    assert.deepEqual(direct, { from: alice.user, text: 'psst', data: { secret: true }, ts: sent.ts })

    const pong = await alice.ping()
    assert.ok(pong.rttMs >= 0 && pong.serverTime > 1.7e12, JSON.stringify(pong))

    await bob.leave('lobby')
    assert.deepEqual(bob.joinedRooms(), [])
    assert.deepEqual(await aliceEv.next('presence', (d) => d.leaves.length > 0), { room: 'lobby', joins: [], leaves: [bob.user] })
  })

  test('the server refuses with a typed ServerError, and the connection stays usable', async (t) => {
    const srv = await startServer(t)
    const { client, rec } = await connectClient(t, srv.url, { name: 'carol' })
    const refused = async (what, promise, code) => {
      await assert.rejects(promise, (err) => {
        assert.ok(err instanceof ServerError, `${what}: ${err}`)
        assert.equal(err.code, code, `${what}: ${err.message}`)
        assert.ok(err.message.length > 0, `${what}: a human-readable message`)
        return true
      })
    }
    await refused('send to a room not joined', client.send('nowhere', { text: 'x' }), 'not_joined')
    await refused('join a bad room name', client.join('no spaces allowed'), 'invalid')
    await refused('send the reserved kind', (await client.join('r'), client.send('r', { text: 'x', kind: 'system' })), 'invalid')
    await refused('history over the limit', client.history('r', { limit: 500 }), 'invalid')
    await refused('direct to nobody', client.direct('no-such-user', 'hello?'), 'no_such_user')

    await client.typing('elsewhere', true)
    const pushed = await rec.next('error')
    assert.ok(pushed.error instanceof ServerError)
    assert.equal(pushed.error.code, 'not_joined', 'typing in a room not joined comes back as an error event')

    const ack = await client.send('r', { text: 'still fine' })
    assert.equal(ack.offset, 1)
    assert.equal(client.state, 'connected')
  })

  test('a request without a reply times out with TimeoutError', async (t) => {
    const srv = await startServer(t)
    const { WebSocket, ctl } = faultySocket()
    const { client } = await connectClient(t, srv.url, { name: 'dave', WebSocket, requestTimeoutMs: 300 })
    ctl.dropOut('ping') // pings never reach the server
    const started = performance.now()
    await assert.rejects(client.ping(), (err) => err instanceof TimeoutError && err.timeoutMs === 300)
    const took = performance.now() - started
    assert.ok(took >= 290, `timed out after ${took} ms, before the request timeout`)
    assert.equal(ctl.droppedOut, 1)

    ctl.dropOut(null)
    const pong = await client.ping()
    assert.ok(pong.serverTime > 0, 'the connection is still usable')
    assert.equal(ctl.dials, 1)
  })

  test('a lost ack: send retries with the same cid and the server keeps one copy', async (t) => {
    const srv = await startServer(t)
    const { WebSocket, ctl } = faultySocket()
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice', WebSocket, requestTimeoutMs: 500 })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('r')
    await bob.join('r')
    const sends = []
    ctl.onDrop = (text) => sends.push(text)
    ctl.dropIn('ack') // the first ack is lost on the way back

    const ack = await alice.send('r', { text: 'once' })
    assert.equal(ctl.droppedIn, 1)
    assert.equal(ack.dup, true, 'the retry is answered with the original ack')
    assert.equal(ack.attempts, 2)
    assert.equal(ack.offset, 1)
    assert.equal(JSON.parse(sends[0]).offset, 1, 'the lost ack named the same offset')
    assert.equal(JSON.parse(sends[0]).msg_id, ack.msgId)

    await alice.send('r', { text: 'twice' })
    const got = await bobEv.untilMessages('r', 2)
    assert.deepEqual(offsets(got), [1, 2])
    assert.deepEqual(got.map((m) => m.text), ['once', 'twice'])
    const page = await bob.history('r')
    assert.deepEqual(page.messages.map((m) => m.text), ['once', 'twice'], 'stored exactly once')
  })

  test('sends refused with rate_limited are retried after a backoff until stored, once each', async (t) => {
    const srv = await startServer(t, '--rate-limit', '10', '--rate-burst', '3')
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('busy')
    await bob.join('busy')
    const n = 12
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => alice.send('busy', { text: String(i) })))
    assert.ok(acks.some((a) => a.attempts > 1), `no send was refused: attempts ${acks.map((a) => a.attempts)}`)
    assert.deepEqual(acks.map((a) => a.offset).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1))
    assert.ok(acks.every((a) => !a.dup), 'a refused frame was dropped, not stored')
    const got = await bobEv.untilMessages('busy', n)
    assert.deepEqual(got.map((m) => m.text).sort(), acks.map((a, i) => String(i)).sort())
  })

  test('a room crash: members get room_restarted and sends go on without loss', async (t) => {
    const srv = await startServer(t)
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('fragile')
    await bob.join('fragile')
    const n = 30
    const sending = (async () => {
      for (let i = 1; i <= n; i++) await alice.send('fragile', { text: String(i) })
    })()
    await bobEv.untilMessages('fragile', 5)
    const rep = await srv.drill({ kind: 'room-crash', room: 'fragile' })
    assert.equal(rep.state, 'done', JSON.stringify(rep))
    await sending
    const sys = await bobEv.next('system')
    assert.equal(sys.room, 'fragile')
    assert.equal(sys.event, 'room_restarted')
    const got = await bobEv.untilMessages('fragile', n)
    assert.deepEqual(got.map((m) => m.text), Array.from({ length: n }, (_, i) => String(i + 1)))
    assert.deepEqual(offsets(got), Array.from({ length: n }, (_, i) => i + 1))
  })
})
