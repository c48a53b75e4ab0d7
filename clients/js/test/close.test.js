// Integration tests of the closes the client must not reconnect after
// (1008, 4003 without new credentials, 4004), of credentials, and of close().

import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, test } from 'node:test'

import { ClientClosedError, CloseError, ServerError, TimeoutError, TroupeClient } from '../src/index.js'
import { connectClient, record } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { startServer } from '../test-support/server.js'

/** hs256 mints a JWT signed with secret. */
function hs256(secret, claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

const types = (rec) => rec.events.map((e) => e.type)

describe('closes and credentials', () => {
  test('no reconnect after a policy close (1008): the reconnect\'s hello never arrives', async (t) => {
    const srv = await startServer(t, '--hello-timeout', '200ms')
    const { WebSocket, ctl } = faultySocket()
    const { client, rec } = await connectClient(t, srv.url, { name: 'mallory', WebSocket })
    await client.join('r')
    ctl.dropOut('hello')
    await srv.killConns(1)

    const closed = await rec.next('closed')
    assert.equal(closed.code, 1008)
    assert.ok(closed.error instanceof CloseError)
    assert.equal(client.state, 'closed')
    const attempts = rec.of('state').filter((s) => s.state === 'reconnecting')
    assert.deepEqual(attempts.map((s) => s.code), [1011], 'one reconnect, after the 1011; none after the 1008')
    assert.equal(ctl.dials, 2)
    assert.equal(ctl.droppedOut, 1)
    assert.equal(types(rec).at(-1), 'closed', 'closed is the last event')
    await assert.rejects(client.ping(), (err) => err instanceof ClientClosedError && err.cause?.code === 1008)
  })

  test('a session taken over (4004) closes the old client for good', async (t) => {
    const srv = await startServer(t)
    const { client: first, rec: firstEv } = await connectClient(t, srv.url, { name: 'tab' })
    await first.join('r')
    const { client: second, rec: secondEv } = await connectClient(t, srv.url, { name: 'tab', session: first.session })
    const welcome = await secondEv.next('connected')
    assert.equal(welcome.resumed, true)
    assert.equal(second.session, first.session)
    assert.equal(second.user.id, first.user.id)

    const closed = await firstEv.next('closed')
    assert.equal(closed.code, 4004)
    assert.equal(first.state, 'closed')
    assert.equal(types(firstEv).at(-1), 'closed')
    assert.ok(!firstEv.of('state').some((s) => s.state === 'reconnecting'), 'the old client did not reconnect')
    await assert.rejects(first.send('r', { text: 'x' }), ClientClosedError)
    assert.equal(second.state, 'connected')
  })

  test('tokens: a bad one is refused without retry; expiry closes with 4003 unless new credentials came', async (t) => {
    const secret = 'expiry-secret'
    const srv = await startServer(t, '--jwt-secret', secret, '--token-leeway', '1ms')

    const bad = faultySocket()
    const refused = new TroupeClient({ url: srv.url, token: 'not-a-jwt', WebSocket: bad.WebSocket })
    await assert.rejects(refused.connect(), (err) => err instanceof ServerError && err.code === 'unauthorized')
    assert.equal(bad.ctl.dials, 1)
    assert.equal(refused.state, 'idle')

    // Whole seconds, as JWTs carry them.
    const early = Math.ceil(Date.now() / 1000) + 2
    const late = early + 1
    const exp = faultySocket()
    const { client: expiring, rec: expiringEv } = await connectClient(t, srv.url, { token: hs256(secret, { sub: 'exp', exp: late }), WebSocket: exp.WebSocket })
    const { client: refreshed, rec: refreshedEv } = await connectClient(t, srv.url, { token: hs256(secret, { sub: 'ref', exp: early }) })
    const lost = faultySocket()
    const { client: renewed, rec: renewedEv } = await connectClient(t, srv.url, {
      token: hs256(secret, { sub: 'lost', exp: early }),
      WebSocket: lost.WebSocket,
      requestTimeoutMs: 1000,
    })
    assert.equal(expiring.user.id, 'exp')

    await assert.rejects(refreshed.setToken('garbage'), (err) => err instanceof ServerError && err.code === 'unauthorized')
    const ok = await refreshed.setToken(hs256(secret, { sub: 'ref' }))
    assert.ok(ok && 'exp' in ok, `refreshed: ${JSON.stringify(ok)}`)
    // The refresh is lost on the way: the server never sees the new token,
    // but the client has it for its next hello.
    lost.ctl.dropOut('refresh')
    await assert.rejects(renewed.setToken(hs256(secret, { sub: 'lost' })), TimeoutError)

    const closed = await expiringEv.next('closed')
    assert.equal(closed.code, 4003)
    assert.equal(exp.ctl.dials, 1, 'no reconnect with the expired token')
    assert.equal(expiring.state, 'closed')

    const drop = await renewedEv.next('state', (s) => s.state === 'reconnecting')
    assert.equal(drop.code, 4003)
    const back = await renewedEv.next('connected', (c) => c.reconnect)
    assert.equal(back.resumed, true, 'the new token (same sub) resumed the session')
    assert.equal(renewed.user.id, 'lost')
    assert.equal(lost.ctl.dials, 2)

    // The refreshed client's old token expired a second before the other's.
    await refreshed.ping()
    assert.ok(!refreshedEv.events.some((e) => e.type === 'closed' || (e.type === 'state' && e.detail.state === 'reconnecting')), 'the refreshed client kept its connection')
  })

  test('close(): the closed event is last, nothing reconnects, pending and later requests fail', async (t) => {
    const srv = await startServer(t)
    const { WebSocket, ctl } = faultySocket()
    const { client, rec } = await connectClient(t, srv.url, { name: 'zed', WebSocket })
    await client.join('r')
    await srv.killConns(1)
    await rec.next('recovered')

    ctl.closeGate() // the next reconnect waits at the gate
    await srv.killConns(1)
    await rec.until('the second drop', () => rec.of('state').filter((s) => s.state === 'reconnecting' && s.attempt === 1).length === 2)
    const pending = client.send('r', { text: 'waits for the rejoin' })
    client.close()
    await assert.rejects(pending, ClientClosedError)
    client.close() // idempotent

    assert.equal(client.state, 'closed')
    const closes = rec.of('closed')
    assert.deepEqual(closes, [{ code: 1000, error: null }])
    assert.equal(types(rec).at(-1), 'closed')
    assert.deepEqual(rec.of('state').at(-1), { state: 'closed', previous: 'reconnecting', code: 1000 })
    await assert.rejects(client.connect(), ClientClosedError)
    await assert.rejects(client.ping(), ClientClosedError)
    await assert.rejects(client.setToken('t'), ClientClosedError)

    const seen = rec.events.length
    ctl.openGate()
    // A new client proves the server is up; the closed one stays silent.
    const other = new TroupeClient({ url: srv.url })
    const otherEv = record(other)
    t.after(() => other.close())
    await other.connect()
    await other.ping()
    assert.equal(rec.events.length, seen, 'no event after closed')
    assert.ok(ctl.dials <= 3, `dialed ${ctl.dials} times`)
    assert.deepEqual(otherEv.of('state').map((s) => s.state), ['connecting', 'connected'])
  })
})
