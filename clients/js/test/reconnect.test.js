// Integration tests of reconnects and recovery: connections killed by the
// server's conn-kill drill (close 1011), reconnects held at a gate while the
// room moves on, and refusals at the connection limit.

import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'

import { CloseError, ServerError, TimeoutError, TroupeClient } from '../src/index.js'
import { FAST_RECONNECT, connectClient, offsets, record, seq } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { startServer } from '../test-support/server.js'

/** hs256 mints a JWT signed with secret. */
function hs256(secret, claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

/** dialFrames returns the frames of one socket as 'out:type' and 'in:type', in the order the client wrote and read them. */
function dialFrames(ctl, dial) {
  return ctl.frames.filter((f) => f.dial === dial).map((f) => `${f.dir}:${f.type}`)
}

/** pipelined asserts that dial wrote its hello, then a join per room, before it read anything (the welcome first). */
function assertPipelined(ctl, dial, rooms) {
  const frames = dialFrames(ctl, dial)
  const firstIn = frames.findIndex((f) => f.startsWith('in:'))
  assert.ok(firstIn > 0, `dial ${dial} read a frame: ${frames.join(' ')}`)
  assert.deepEqual(frames.slice(0, firstIn), ['out:hello', ...rooms.map(() => 'out:join')], `dial ${dial} sent hello and every join before the first reply: ${frames.join(' ')}`)
  return frames.slice(firstIn)
}

describe('reconnect and recovery', () => {
  test('send is exactly-once across killed connections: every offset arrives once, in order, without a gap', async (t) => {
    const srv = await startServer(t)
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('stream')
    await bob.join('stream')

    const n = 60
    const acks = []
    const sending = (async () => {
      for (let i = 1; i <= n; i++) acks.push(await alice.send('stream', { text: String(i) }))
    })()
    let kills = 0
    for (const at of [10, 35]) {
      await bobEv.untilMessages('stream', at)
      const rep = await srv.drill({ kind: 'conn-kill', fraction: 1 })
      kills += rep.injected
    }
    await sending
    assert.ok(kills >= 2, `the drills killed ${kills} connections`)

    assert.deepEqual(acks.map((a) => a.offset), seq(1, n), 'every send acked once, at consecutive offsets')
    assert.ok(acks.some((a) => a.attempts > 1), 'some sends were retried')
    const got = await bobEv.untilMessages('stream', n)
    assert.deepEqual(offsets(got), seq(1, n), 'bob got every offset once, in order')
    assert.deepEqual(got.map((m) => m.text), seq(1, n).map(String), 'no message stored twice or lost')
    const page = await bob.history('stream', { limit: 200 })
    assert.equal(page.messages.length, n, 'the room holds each message once')

    for (const [who, ev] of [['alice', aliceEv], ['bob', bobEv]]) {
      const drop = await ev.next('state', (s) => s.state === 'reconnecting')
      assert.equal(drop.code, 1011, `${who}'s connection ended with 1011`)
      assert.equal(drop.attempt, 1)
      assert.ok(drop.delayMs >= 0 && drop.delayMs <= FAST_RECONNECT.minMs, `${who}'s first delay ${drop.delayMs}`)
      const back = await ev.next('connected', (c) => c.reconnect)
      assert.equal(back.resumed, true, `${who} resumed the session`)
      const recovery = await ev.next('recovery')
      assert.equal(recovery.room, 'stream')
      assert.equal(recovery.recovered, true)
      assert.equal(recovery.epochChanged, false)
      const summary = await ev.next('recovered')
      assert.deepEqual(summary, { rooms: ['stream'], gaps: [], failed: [] })
    }
    assert.equal(bob.state, 'connected')
    assert.deepEqual(bob.joinedRooms(), ['stream'])
  })

  test('rejoin with since replays exactly the missed messages, before newer ones', async (t) => {
    const srv = await startServer(t)
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    const { WebSocket, ctl } = faultySocket()
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob', WebSocket })
    const joined = await bob.join('r')
    await alice.join('r')
    for (let i = 1; i <= 3; i++) await alice.send('r', { text: String(i) })
    await bobEv.untilMessages('r', 3)
    assert.deepEqual(bob.position('r'), { epoch: joined.epoch, offset: 3 })

    ctl.closeGate() // bob's reconnect waits at the gate
    await srv.killConns(2)
    const drop = await bobEv.next('state', (s) => s.state === 'reconnecting')
    assert.equal(drop.code, 1011)
    // Alice reconnects by herself and sends while bob is away.
    for (let i = 4; i <= 6; i++) await alice.send('r', { text: String(i) })
    ctl.openGate()

    const recovery = await bobEv.next('recovery')
    assert.deepEqual(recovery, { room: 'r', epoch: joined.epoch, recovered: true, epochChanged: false, from: 3, to: 6, replayed: 3 })
    assert.deepEqual(await bobEv.next('recovered'), { rooms: ['r'], gaps: [], failed: [] })
    assert.equal((await bobEv.next('connected', (c) => c.reconnect)).resumed, true)
    await alice.send('r', { text: '7' })
    const got = await bobEv.untilMessages('r', 7)
    assert.deepEqual(offsets(got), seq(1, 7))
    assert.deepEqual(got.map((m) => m.text), seq(1, 7).map(String))
    assert.deepEqual(got.map((m) => m.replayed), [false, false, false, true, true, true, false], 'the missed ones are replayed')
    // The recovery event comes right before its replayed messages, and the
    // recovered summary after them.
    const order = bobEv.events
      .filter((e) => ['recovery', 'recovered', 'message'].includes(e.type))
      .map((e) => (e.type === 'message' ? e.detail.offset : e.type))
    assert.deepEqual(order, [1, 2, 3, 'recovery', 4, 5, 6, 'recovered', 7])
    assert.equal(ctl.dials, 2)
  })

  test('a rejoin that cannot recover says so: recovered false and a gap', async (t) => {
    const srv = await startServer(t, '--recovery-limit', '2')
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    const { WebSocket, ctl } = faultySocket()
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob', WebSocket, rejoinHistory: 1 })
    await bob.join('r')
    await alice.join('r')
    await alice.send('r', { text: '1' })
    await bobEv.untilMessages('r', 1)

    ctl.closeGate()
    await srv.killConns(2)
    await bobEv.next('state', (s) => s.state === 'reconnecting')
    for (let i = 2; i <= 5; i++) await alice.send('r', { text: String(i) }) // 4 missed: over the recovery limit
    ctl.openGate()

    const recovery = await bobEv.next('recovery')
    assert.equal(recovery.recovered, false)
    assert.equal(recovery.epochChanged, false)
    assert.equal(recovery.from, 1)
    assert.equal(recovery.to, 5)
    assert.equal(recovery.replayed, 1, 'only the latest message, as rejoinHistory asked')
    assert.deepEqual(await bobEv.next('recovered'), { rooms: ['r'], gaps: ['r'], failed: [] })
    await alice.send('r', { text: '6' })
    const got = await bobEv.untilMessages('r', 3)
    assert.deepEqual(offsets(got), [1, 5, 6], 'the stream goes on after the gap, without duplicates')
    assert.deepEqual(got.map((m) => m.replayed), [false, true, false])
  })

  test('a server gone quiet is detected: a liveness ping without a pong drops the connection, and the client reconnects', async (t) => {
    const srv = await startServer(t, '--heartbeat-interval', '200ms', '--idle-timeout', '5s')
    const { WebSocket, ctl } = faultySocket()
    const { client, rec } = await connectClient(t, srv.url, { name: 'quiet', WebSocket, requestTimeoutMs: 400 })
    await client.join('r')
    ctl.dropOut('ping') // the liveness pings (after 200 ms without a frame) never reach the server
    const drop = await rec.next('state', (s) => s.state === 'reconnecting')
    ctl.dropOut(null)
    assert.ok(drop.error instanceof TimeoutError, `dropped for ${drop.error}`)
    assert.equal(drop.code, 1006)
    assert.ok(ctl.droppedOut >= 1)
    const back = await rec.next('connected', (c) => c.reconnect)
    assert.equal(back.resumed, true)
    assert.deepEqual(await rec.next('recovered'), { rooms: ['r'], gaps: [], failed: [] })
    assert.equal(ctl.dials, 2)
  })

  test('at the connection limit: the first connect is refused with 1013, a reconnect keeps trying until a slot frees', async (t) => {
    const srv = await startServer(t, '--max-conns', '1')
    const { WebSocket, ctl } = faultySocket()
    const { client: alice, rec } = await connectClient(t, srv.url, { name: 'alice', WebSocket })
    await alice.join('r')

    const refused = new TroupeClient({ url: srv.url, name: 'late' })
    const refusedEv = record(refused)
    t.after(() => refused.close())
    await assert.rejects(refused.connect(), (err) => err instanceof CloseError && err.code === 1013)
    assert.equal(refused.state, 'idle', 'a failed first connect leaves the client idle')
    assert.deepEqual(refusedEv.of('state').map((s) => [s.state, s.code]), [['connecting', undefined], ['idle', 1013]])

    ctl.closeGate()
    await srv.killConns(1)
    await rec.next('state', (s) => s.state === 'reconnecting' && s.attempt === 1)
    // While alice's reconnect waits at the gate, another client takes the
    // only slot (once the server has released alice's).
    let occupant = null
    while (!occupant) {
      const c = new TroupeClient({ url: srv.url, name: 'occupant' })
      try {
        await c.connect()
        occupant = c
      } catch (err) {
        assert.ok(err instanceof CloseError && err.code === 1013, `occupant: ${err}`)
      }
    }
    t.after(() => occupant.close())
    ctl.allow(1) // one attempt: refused with 1013
    const second = await rec.next('state', (s) => s.state === 'reconnecting' && s.attempt === 2)
    assert.equal(second.code, 1013, `the attempt at the limit failed with ${second.code}: ${second.error?.message}`)
    occupant.close()
    ctl.openGate()
    const back = await rec.next('connected', (c) => c.reconnect)
    assert.equal(back.resumed, true)
    assert.deepEqual(await rec.next('recovered'), { rooms: ['r'], gaps: [], failed: [] })
    const ack = await alice.send('r', { text: 'back' })
    assert.equal(ack.offset, 1)
  })

  test('a reconnect pipelines its joins behind the hello: one round trip, every missed message recovered once', async (t) => {
    const srv = await startServer(t)
    const rooms = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']
    const { client: alice } = await connectClient(t, srv.url, { name: 'alice' })
    const { WebSocket, ctl } = faultySocket()
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob', WebSocket })
    for (const room of rooms) {
      await bob.join(room)
      await alice.join(room)
      await alice.send(room, { text: `${room}-1` })
    }
    for (const room of rooms) await bobEv.untilMessages(room, 1)
    assert.deepEqual(dialFrames(ctl, 1).slice(0, 3), ['out:hello', 'in:welcome', 'out:join'], 'the first connect waits for its welcome')

    ctl.closeGate()
    await srv.killConns(2)
    await bobEv.next('state', (s) => s.state === 'reconnecting')
    for (const room of rooms) for (let i = 2; i <= 4; i++) await alice.send(room, { text: `${room}-${i}` })
    ctl.openGate()

    const summary = await bobEv.next('recovered')
    assert.deepEqual(summary, { rooms, gaps: [], failed: [] })
    const replies = assertPipelined(ctl, 2, rooms)
    assert.equal(replies[0], 'in:welcome', 'the welcome is the first reply')
    assert.equal(replies.filter((f) => f === 'in:joined').length, rooms.length, 'one joined per room, no join sent again')
    assert.equal(dialFrames(ctl, 2).filter((f) => f === 'out:join').length, rooms.length)
    assert.equal((await bobEv.next('connected', (c) => c.reconnect)).resumed, true)
    for (const room of rooms) {
      const got = await bobEv.untilMessages(room, 4)
      assert.deepEqual(offsets(got), seq(1, 4), `${room}: every offset once, in order`)
      assert.deepEqual(got.map((m) => m.text), seq(1, 4).map((i) => `${room}-${i}`))
      assert.deepEqual(got.map((m) => m.replayed), [false, true, true, true])
    }
    assert.equal(ctl.dials, 2)
  })

  test('a pipelined reconnect whose hello fails: its joins fail with it, the next attempt rejoins and recovers', async (t) => {
    const secret = 'pipeline-secret'
    const srv = await startServer(t, '--jwt-secret', secret, '--max-conns-per-user', '1')
    const rooms = ['q0', 'q1', 'q2']
    const { client: alice } = await connectClient(t, srv.url, { token: hs256(secret, { sub: 'alice' }) })
    const { WebSocket, ctl } = faultySocket()
    const token = hs256(secret, { sub: 'bob' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { token, WebSocket })
    for (const room of rooms) {
      await bob.join(room)
      await alice.join(room)
    }

    ctl.closeGate()
    await srv.killConns(2)
    await bobEv.next('state', (s) => s.state === 'reconnecting' && s.attempt === 1)
    for (const room of rooms) await alice.send(room, { text: `${room}-1` })
    // Bob's only connection slot is taken while his reconnect waits.
    let occupant = null
    while (!occupant) {
      const c = new TroupeClient({ url: srv.url, token })
      try {
        await c.connect()
        occupant = c
      } catch (err) {
        assert.ok(err instanceof ServerError && err.code === 'limit_exceeded', `occupant: ${err}`)
      }
    }
    t.after(() => occupant.close())
    ctl.allow(1)
    const refused = await bobEv.next('state', (s) => s.state === 'reconnecting' && s.attempt === 2)
    assert.ok(refused.error instanceof ServerError && refused.error.code === 'limit_exceeded', `attempt 1 failed with ${refused.error}`)
    const replies = assertPipelined(ctl, 2, rooms)
    assert.equal(replies[0], 'in:error', 'the hello was refused')
    assert.ok(!replies.includes('in:joined'), `no join was answered: ${replies.join(' ')}`)
    assert.equal(bobEv.of('recovery').length, 0)
    assert.equal(bobEv.of('rejoin_failed').length, 0, 'the failed hello cost no room')

    occupant.close()
    ctl.openGate()
    assert.deepEqual(await bobEv.next('recovered'), { rooms, gaps: [], failed: [] })
    const last = ctl.dials
    assert.equal(assertPipelined(ctl, last, rooms)[0], 'in:welcome')
    for (const room of rooms) {
      const got = await bobEv.untilMessages(room, 1)
      assert.deepEqual(got.map((m) => [m.offset, m.text, m.replayed]), [[1, `${room}-1`, true]], `${room} recovered once`)
    }
    assert.deepEqual(bob.joinedRooms(), rooms)
  })
})
