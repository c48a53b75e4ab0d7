// Integration tests of signals and presence states against a real troupe server.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { connectClient } from '../test-support/clients.js'
import { faultySocket } from '../test-support/faults.js'
import { startServer } from '../test-support/server.js'

describe('collaboration', () => {
  test('signals reach the other connections; bad ones come back as errors', async (t) => {
    const srv = await startServer(t)
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice' })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    assert.match(alice.connId, /.+/)
    assert.notEqual(alice.connId, bob.connId)
    await alice.join('board')
    await bob.join('board')

    await alice.signal('board', 'cursor', { x: 10, y: 20 })
    assert.deepEqual(await bobEv.next('signal'), { room: 'board', user: alice.user, conn: alice.connId, key: 'cursor', data: { x: 10, y: 20 } })

    await alice.signal('board', 'not a key', 1)
    assert.equal((await aliceEv.next('error')).error.code, 'invalid')
    await alice.signal('elsewhere', 'cursor', 1)
    assert.equal((await aliceEv.next('error', (e) => e.error.code !== 'invalid')).error.code, 'not_joined')
    // Bob got the one valid signal and no error; the message after them is the barrier.
    await alice.send('board', { text: 'after' })
    await bobEv.untilMessages('board', 1)
    assert.equal(bobEv.of('signal').length, 1)
    assert.equal(bobEv.of('error').length, 0)
    assert.equal(aliceEv.of('signal').length, 0, 'a signal does not come back to its sender')
  })

  test('presence states: diffs, presence, joined, and set again after a reconnect', async (t) => {
    const srv = await startServer(t, '--presence-interval', '20ms')
    const { WebSocket, ctl } = faultySocket()
    const { client: alice, rec: aliceEv } = await connectClient(t, srv.url, { name: 'alice', WebSocket })
    const { client: bob, rec: bobEv } = await connectClient(t, srv.url, { name: 'bob' })
    await alice.join('doc')
    await bob.join('doc')
    const first = alice.connId

    await alice.setPresence('doc', { color: 'teal', editing: true })
    const diff = await bobEv.next('presence', (d) => d.states?.some((s) => s.conn === first))
    assert.deepEqual(diff.states, [{ user: alice.user, conn: first, state: { color: 'teal', editing: true } }])
    const members = await bob.presence('doc')
    assert.deepEqual(members.find((m) => m.id === alice.user.id).states, { [first]: { color: 'teal', editing: true } })
    const { client: carol } = await connectClient(t, srv.url, { name: 'carol' })
    const joined = await carol.join('doc')
    assert.deepEqual(joined.states, [{ user: alice.user, conn: first, state: { color: 'teal', editing: true } }])

    await bob.setPresence('doc', { color: 'gold' })
    await aliceEv.next('presence', (d) => d.states?.some((s) => s.conn === bob.connId))

    // Every connection is killed; alice's reconnect waits at the gate until
    // bob is back and has set his state again. Alice's state went with her
    // connection, her client sets it again after the rejoin, and her
    // recovery starts her view of the states over with bob's new one.
    ctl.closeGate()
    await srv.killConns(3)
    await bobEv.next('recovered')
    await bob.presence('doc') // bob's room handled his frames up to here, his presence_set included
    ctl.openGate()
    const recovery = await aliceEv.next('recovery')
    assert.deepEqual(recovery.states, [{ user: bob.user, conn: bob.connId, state: { color: 'gold' } }])
    await aliceEv.next('recovered')
    assert.notEqual(alice.connId, first)
    await alice.presence('doc') // alice's room handled her frames up to here, the presence_set included
    const again = (await bob.presence('doc')).find((m) => m.id === alice.user.id)
    assert.deepEqual(again.states, { [alice.connId]: { color: 'teal', editing: true } })

    await alice.setPresence('doc', null)
    await bobEv.next('presence', (d) => d.states?.some((s) => s.conn === alice.connId && s.state === null))
    assert.equal((await bob.presence('doc')).find((m) => m.id === alice.user.id).states, undefined)
  })
})
