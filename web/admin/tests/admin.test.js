// Browser tests of the admin dashboard at /admin: a real troupe server, real
// WebSocket clients chatting in a room, real headless Chromium. The tests run
// in order on one page, like an operator's session: a wrong key, login, the
// tree, the charts, a drill, logout. Every wait is a Playwright auto-wait
// (locator.waitFor) or page.waitForFunction on a condition; no fixed sleeps.

import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { API_KEY, Client, HERE, Server, WAIT_MS, launchBrowser, textOf, watchErrors } from './harness.js'

const ARTIFACTS = join(HERE, 'artifacts')

describe('admin dashboard', () => {
  let server
  let browser
  let context
  let page
  let errors
  let alice
  let bob

  /** row is the rooms table's row of room. */
  const row = (room) => page.locator(`#rooms-body tr[data-room="${room}"]`)
  /** cell waits until the room's column shows exactly text. */
  const cell = (room, col, text) =>
    row(room).locator(`[data-col="${col}"]`).filter({ hasText: new RegExp(`^\\s*${text}\\s*$`) }).waitFor()

  before(async () => {
    server = await Server.start()
    browser = await launchBrowser()
    context = await browser.newContext({ baseURL: server.url, viewport: { width: 1280, height: 900 } })
    context.setDefaultTimeout(WAIT_MS)
    page = await context.newPage()
    errors = watchErrors(page)

    alice = await Client.connect(server, 'alice')
    bob = await Client.connect(server, 'bob')
    await alice.join('ops')
    await bob.join('ops')
    await alice.send('ops', 'hi')
    await bob.send('ops', 'hi')
  }, { timeout: 300000 })

  after(async () => {
    try {
      await Promise.all([alice?.close(), bob?.close()])
      await browser?.close()
    } finally {
      await server?.stop()
    }
  })

  test('the page asks for the key; a wrong key shows an error and keeps the form', async () => {
    const resp = await page.goto('/admin')
    assert.equal(new URL(page.url()).pathname, '/admin/')
    assert.equal(resp.headers()['cache-control'], 'no-store')
    assert.match(resp.headers()['content-security-policy'], /default-src 'none'/)
    await page.getByRole('heading', { name: 'Log in' }).waitFor()

    await page.getByLabel('API key').fill('wrong-key')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#login-error').filter({ hasText: /Wrong API key.*401/ }).waitFor()
    assert.equal(await page.getByLabel('API key').getAttribute('aria-invalid'), 'true')
    assert.equal(await page.locator('#dashboard').isVisible(), false)
    assert.equal(await page.evaluate(() => sessionStorage.getItem('troupe.admin.apiKey')), null)
  })

  test('the right key shows the actor tree: room ops with 2 members', async () => {
    await page.getByLabel('API key').fill(API_KEY)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('heading', { name: 'Actor tree' }).waitFor()
    assert.equal(await page.evaluate(() => sessionStorage.getItem('troupe.admin.apiKey')), API_KEY)

    await cell('ops', 'members', '2')
    await cell('ops', 'connections', '2')
    await cell('ops', 'offset', '2')
    await cell('ops', 'restarts', '0')
    assert.equal(await page.locator('#rooms-body tr.hot').count(), 0)
    await page.locator('#users-summary').filter({ hasText: '2 live user actors' }).waitFor()
    for (const c of [alice, bob]) await page.locator('#user-ids li').filter({ hasText: c.user.id }).waitFor()
    await page.locator('#shards-summary').filter({ hasText: '2 connections' }).waitFor()
    await page.locator('#rooms-note').filter({ hasText: 'Showing 1 of 1 rooms' }).waitFor()

    // Filtering down to nothing and back.
    await page.getByLabel('Filter rooms').fill('no-such-room')
    await page.locator('#rooms-note').filter({ hasText: 'No room matches' }).waitFor()
    assert.equal(await row('ops').count(), 0)
    await page.getByLabel('Filter rooms').fill('op')
    await row('ops').waitFor()

    // Sorting announces itself through aria-sort.
    const header = page.locator('#rooms-table th[data-key="restarts"]')
    await header.getByRole('button').click()
    assert.equal(await header.getAttribute('aria-sort'), 'descending')
    assert.equal(await page.locator('#rooms-table th[data-key="room"]').getAttribute('aria-sort'), null)
  })

  test('the nodes section, above the tree, lists this single node; the room shows its owner', async () => {
    // The test server runs without --node-id: its node is named after the host.
    const node = hostname()
    await page.getByRole('heading', { name: 'Nodes' }).waitFor()
    await page.locator('#nodes-summary').filter({ hasText: `A single node, ${node}: it owns every room.` }).waitFor()
    const items = page.locator('#nodes li')
    assert.equal(await items.count(), 1)
    assert.equal(await textOf(items), `${node} (this node)`)
    assert.equal(await items.first().getAttribute('data-node'), node)
    assert.equal(await items.first().getAttribute('data-self'), 'true')
    assert.equal(await items.first().getAttribute('aria-current'), 'true')
    const above = await page.evaluate(() => {
      const heading = document.getElementById('nodes-title')
      return Boolean(heading.compareDocumentPosition(document.querySelector('#tree ul.tree')) & Node.DOCUMENT_POSITION_FOLLOWING)
    })
    assert.ok(above, 'the Nodes heading comes before the tree')

    const badge = row('ops').locator('.badge.role')
    await badge.filter({ hasText: `owner ${node}` }).waitFor()
    assert.equal(await textOf(badge), `owner ${node}`)
    assert.equal(await badge.getAttribute('data-relay'), 'false')
    assert.equal(await badge.isVisible(), true)
  })

  test('the charts show deliveries after messages are sent', async () => {
    // Rates need two samples: send once the first rate point exists, so the
    // messages fall between samples.
    await page.waitForFunction(() => Number(document.querySelector('#chart-deliveries')?.dataset.points) >= 1)
    for (let i = 0; i < 5; i++) {
      await alice.send('ops', `burst ${i}`)
      await bob.send('ops', `burst ${i}`)
    }
    await page.waitForFunction(() => Number(document.querySelector('#chart-deliveries')?.dataset.peak) > 0)
    await page.waitForFunction(() => Number(document.querySelector('#chart-stored')?.dataset.peak) > 0)
    await page.waitForFunction(() => Number(document.querySelector('#chart-latency')?.dataset.peak) > 0)
    await page.waitForFunction(() => document.querySelector('#chart-connections')?.dataset.now === '2')

    for (const id of ['deliveries', 'connections', 'latency', 'restarts', 'stored']) {
      const fig = page.locator(`#chart-${id}`)
      assert.equal(await fig.locator('svg[role="img"]').count(), 1, `${id}: one SVG`)
      assert.match(await textOf(fig.locator('.now')), /^now .+ · peak /, `${id}: current value as text`)
    }
    const deliveries = page.locator('#chart-deliveries')
    assert.match(await deliveries.locator('path.series').getAttribute('d'), /^M[\d.]+,[\d.]+/)
    assert.match(await textOf(deliveries.locator('figcaption')), /Deliveries.*\/s/)
    assert.match(await textOf(deliveries.locator('svg > title')), /now .*peak [1-9]/)
    // Axes with units: the y axis names its unit, the x axis is in minutes.
    const axisText = await deliveries.locator('.axis text').allTextContents()
    assert.ok(axisText.includes('messages/s'), `y axis unit in ${axisText}`)
    assert.ok(axisText.includes('now') && axisText.some((t) => /min$/.test(t)), `x axis in ${axisText}`)
    assert.ok((await page.locator('#chart-latency .axis text').allTextContents()).includes('ms'))
  })

  test('a room-crash drill on ops, confirmed, reports recovery and the tree shows the restart', async () => {
    const form = page.locator('form.drill[data-kind="room-crash"]')
    await form.getByLabel('Room').fill('ops')
    await form.getByLabel('Crashes').fill('1')

    // Cancelling the confirmation runs nothing.
    await form.getByRole('button', { name: 'Crash room…' }).click()
    const dialog = page.getByRole('dialog', { name: 'Run this drill?' })
    await dialog.getByText('Crash room “ops” 1 time.').waitFor()
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'hidden' })
    assert.equal(await page.locator('#drill-reports li').count(), 0)

    await form.getByRole('button', { name: 'Crash room…' }).click()
    await dialog.getByRole('button', { name: 'Run drill' }).click()
    const report = page.locator('#drill-reports li.report[data-state="done"]')
    await report.waitFor()
    const field = async (name) => textOf(report.locator(`[data-field="${name}"]`))
    assert.equal(await field('state'), 'done')
    assert.equal(await field('injected'), '1')
    assert.equal(await field('recovered'), '1')
    assert.equal(await field('unrecovered'), '0')
    assert.match(await field('p50'), /^[\d.,]+ ms$/)
    assert.match(await field('p99'), /^[\d.,]+ ms$/)
    assert.match(await field('max'), /^[\d.,]+ ms$/)
    assert.match(await textOf(report), /Targets: ops/)
    // The live region announces the outcome.
    await page.getByRole('status').filter({ hasText: /room-crash\) done: injected 1, recovered 1, unrecovered 0/ }).waitFor()

    // The clients saw the room restart, and the tree shows it, highlighted.
    await alice.next((f) => f.type === 'system' && f.event === 'room_restarted' && f.room === 'ops', 'room_restarted')
    await cell('ops', 'restarts', '1')
    await page.locator('#rooms-body tr.hot[data-room="ops"]').waitFor()
    await row('ops').locator('.flag').filter({ hasText: 'restarted' }).waitFor()
    await page.locator('#rooms-summary .hot').filter({ hasText: '1 needing attention' }).waitFor()
    // The restart reaches the restarts chart too.
    await page.waitForFunction(() => Number(document.querySelector('#chart-restarts')?.dataset.peak) > 0)

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'admin.png'), fullPage: true })
  })

  test('a key the server stops accepting returns to the login form with a message', async () => {
    await page.evaluate(() => sessionStorage.setItem('troupe.admin.apiKey', 'revoked-key'))
    await page.reload()
    await page.locator('#login-error').filter({ hasText: /refused the API key \(401/ }).waitFor()
    await page.getByLabel('API key').waitFor()
    assert.equal(await page.locator('#dashboard').isVisible(), false)
    assert.equal(await page.evaluate(() => sessionStorage.getItem('troupe.admin.apiKey')), null)
  })

  test('logout forgets the key', async () => {
    await page.getByLabel('API key').fill(API_KEY)
    await page.getByRole('button', { name: 'Log in' }).click()
    await cell('ops', 'members', '2')
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.getByRole('heading', { name: 'Log in' }).waitFor()
    await page.locator('#login-error').filter({ hasText: 'Logged out' }).waitFor()
    assert.equal(await page.evaluate(() => sessionStorage.getItem('troupe.admin.apiKey')), null)
    assert.equal(await page.locator('#dashboard').isVisible(), false)
  })

  test('on a phone-sized screen nothing overflows sideways', async () => {
    const phone = await browser.newContext({ baseURL: server.url, viewport: { width: 390, height: 800 } })
    try {
      phone.setDefaultTimeout(WAIT_MS)
      const p = await phone.newPage()
      const phoneErrors = watchErrors(p)
      await p.goto('/admin/')
      await p.getByLabel('API key').fill(API_KEY)
      await p.getByRole('button', { name: 'Log in' }).click()
      await p.locator('#rooms-body tr[data-room="ops"]').waitFor()
      await p.locator('#chart-deliveries svg').waitFor()
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`)
      await p.screenshot({ path: join(ARTIFACTS, 'admin-phone.png'), fullPage: true })
      assert.deepEqual(phoneErrors, [])
    } finally {
      await phone.close()
    }
  })

  test('with hundreds of rooms the table shows at most 500 rows and says so', async () => {
    const names = Array.from({ length: 520 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`)
    const queue = [...names]
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let room = queue.shift(); room; room = queue.shift()) {
        const r = await fetch(`${server.url}/api/publish`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ room, text: 'x' }),
        })
        assert.equal(r.status, 200, `publish into ${room}: ${r.status} ${await r.text()}`)
      }
    }))
    await page.getByLabel('API key').fill(API_KEY)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#rooms-note').filter({ hasText: 'Showing 500 of 521 rooms' }).waitFor()
    assert.equal(await page.locator('#rooms-body tr').count(), 500)
    await page.getByLabel('Filter rooms').fill('bulk-51')
    await page.locator('#rooms-note').filter({ hasText: 'Showing 10 of 10 rooms.' }).waitFor()
    assert.equal(await page.locator('#rooms-body tr').count(), 10)
    // Only rooms needing attention: ops, which restarted in the drill.
    await page.getByLabel('Filter rooms').fill('')
    await page.getByLabel('Only rooms needing attention').check()
    await page.locator('#rooms-note').filter({ hasText: 'Showing 1 of 1 rooms.' }).waitFor()
    await row('ops').waitFor()
  })

  test('the page reported no errors (no CSP or Trusted Types violations)', () => {
    assert.deepEqual(errors, [])
  })
})
