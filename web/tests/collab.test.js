// Browser tests of the shared notes page (/collab): a real troupe server,
// real headless Chromium, two or three people (separate browser contexts)
// editing one text. Every wait is a Playwright auto-wait or a
// page.waitForFunction on a condition; no fixed sleeps.

import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Server, launchBrowser, textOf } from './harness.js'
import { Notes } from './collab-harness.js'

// Screenshots of the tests, kept as artifacts (git-ignored).
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')
mkdirSync(ARTIFACTS, { recursive: true })
const artifact = (name) => join(ARTIFACTS, name)

describe('shared notes page', () => {
  let server
  let browser
  const people = []

  async function open(name, room, opts) {
    const n = await Notes.open(browser, server, name, room, opts)
    people.push(n)
    return n
  }

  /** userId is the server's id of the person named name in room. */
  async function userId(room, name) {
    const presence = await server.api('GET', `/api/rooms/${room}/presence`)
    return presence.members.find((m) => m.name === name).id
  }

  before(async () => {
    server = await Server.start()
    browser = await launchBrowser()
  }, { timeout: 300000 })

  afterEach(async () => {
    const open = people.splice(0)
    try {
      for (const n of open) n.assertNoErrors()
    } finally {
      await Promise.all(open.map((n) => n.close()))
    }
  })

  after(async () => {
    try {
      await browser?.close()
    } finally {
      await server?.stop()
    }
  })

  test('cursors move on the other pages, with names and colours; who is here and editing', async () => {
    const alice = await open('alice', 'cursors', { form: true })
    const bob = await open('bob', 'cursors')
    assert.equal(await textOf(alice.page.locator('#room-name')), 'cursors')
    assert.equal(await textOf(alice.page.locator('#my-name')), 'alice')

    // Both are listed on both pages, each with a colour.
    for (const n of [alice, bob]) {
      await n.page.locator('#people li', { hasText: 'alice' }).waitFor()
      await n.page.locator('#people li', { hasText: 'bob' }).waitFor()
      assert.equal(await textOf(n.page.locator('#people-count')), '(2)')
    }
    assert.match(await textOf(bob.page.locator('#people li', { hasText: 'bob' })), /\(you\)/)

    await alice.type('hello world')
    await bob.untilText('hello world')
    // While she types, bob sees alice editing; it goes once she stops.
    await bob.page.locator('#people li', { hasText: 'alice' }).locator('.editing', { hasText: 'editing…' }).waitFor()
    await bob.page.locator('#people li', { hasText: 'alice' }).locator('.editing').waitFor({ state: 'detached' })

    // Alice's caret at 5: bob's page shows her cursor there, named and in her colour.
    await alice.editor.press('Home')
    for (let i = 0; i < 5; i++) await alice.editor.press('ArrowRight')
    const cursor = bob.page.locator('#cursors .cursor[data-user="alice"]')
    await bob.page.locator('#cursors .cursor[data-user="alice"][data-index="5"]').waitFor()
    assert.equal(await textOf(cursor.locator('.cursor-name')), 'alice')
    const at5 = await cursor.boundingBox()
    const colour = await cursor.evaluate((el) => getComputedStyle(el).backgroundColor)
    const swatch = await bob.page.locator('#people li', { hasText: 'alice' }).locator('.swatch')
      .evaluate((el) => getComputedStyle(el).backgroundColor)
    assert.equal(colour, swatch)
    assert.notEqual(colour, 'rgba(0, 0, 0, 0)')

    // She moves to the end: the cursor moves right on bob's page.
    await alice.editor.press('End')
    await bob.page.locator('#cursors .cursor[data-user="alice"][data-index="11"]').waitFor()
    await bob.page.waitForFunction((x) => {
      const r = document.querySelector('#cursors .cursor[data-user="alice"]').getBoundingClientRect()
      return r.x > x
    }, at5.x)

    // Bob types before her cursor: it stays on the same character (index 11 + 4).
    await bob.editor.press('Control+Home')
    await bob.type('Oh, ')
    await alice.untilText('Oh, hello world')
    await bob.page.locator('#cursors .cursor[data-user="alice"][data-index="15"]').waitFor()
    // And alice sees bob's cursor after his "Oh, ".
    await alice.page.locator('#cursors .cursor[data-user="bob"][data-index="4"]').waitFor()
    await bob.page.screenshot({ path: artifact('collab-cursors.png') })

    // Bob leaves: his cursor and his name go from alice's page.
    await bob.close()
    people.splice(people.indexOf(bob), 1)
    await alice.page.locator('#cursors .cursor[data-user="bob"]').waitFor({ state: 'detached' })
  })

  test('concurrent edits from two pages converge to the same text', async () => {
    const alice = await open('alice', 'concurrent')
    const bob = await open('bob', 'concurrent')
    await alice.type('|middle|')
    await bob.untilText('|middle|')
    await alice.editor.press('Control+Home')
    await bob.editor.press('Control+End')

    // Both type at once: alice at the start, bob at the end.
    const a = 'alice types here '
    const b = ' and bob types there'
    await Promise.all([alice.type(a), bob.type(b)])
    const want = `${a}|middle|${b}`
    await Promise.all([alice.untilText(want), bob.untilText(want)])
    await Promise.all([alice.flushed(), bob.flushed()])

    // A reload reads the same text back from the server.
    await bob.page.reload()
    await bob.synced()
    assert.equal(await bob.text(), want)
  })

  test('a page that goes offline while others edit comes back and converges, nothing lost', async () => {
    const alice = await open('alice', 'offline')
    const bob = await open('bob', 'offline')
    const carol = await open('carol', 'offline')
    await alice.type('start.')
    await Promise.all([bob.untilText('start.'), carol.untilText('start.')])

    // The server drops alice's connection and she stays offline for a while;
    // Chromium logs each reconnect attempt that fails meanwhile.
    alice.expected.push(/^WebSocket connection to .* failed/)
    await alice.page.evaluate(() => {
      const el = document.getElementById('conn-status')
      window.bannerStates = [el.dataset.state]
      new MutationObserver(() => {
        const s = el.dataset.state
        if (window.bannerStates.at(-1) !== s) window.bannerStates.push(s)
      }).observe(el, { attributes: true })
    })
    await alice.context.setOffline(true)
    // The page itself must be offline before the drop, or it could reconnect at once.
    await alice.page.waitForFunction(() => !navigator.onLine)
    const id = await userId('offline', 'alice')
    const drill = await server.api('POST', '/api/drills', { kind: 'conn-kill', user: id })
    const report = await server.api('GET', `/api/drills/${drill.id}?wait=30s`)
    assert.equal(report.injected, 1, JSON.stringify(report))
    try {
      await alice.status('reconnecting')
    } catch (err) {
      throw new Error(`banner states ${await alice.page.evaluate(() => window.bannerStates.join(' → '))}: ${await textOf(alice.page.locator('#conn-status'))}`, { cause: err })
    }
    assert.match(await textOf(alice.page.locator('#conn-status')), /Reconnecting .*your edits are kept/)

    // Everyone edits: alice offline at the end, bob and carol online at the start.
    await alice.editor.press('Control+End')
    await alice.type(' alice offline')
    assert.notEqual(await alice.editor.getAttribute('data-pending'), '0', 'alice holds her edits')
    await bob.editor.press('Control+Home')
    await bob.type('bob ')
    await carol.untilText('bob start.')
    await carol.editor.press('Control+Home')
    await carol.type('carol ')
    await bob.untilText('carol bob start.')
    assert.equal(await alice.text(), 'start. alice offline')
    await alice.page.screenshot({ path: artifact('collab-offline.png') })

    await alice.context.setOffline(false)
    const want = 'carol bob start. alice offline'
    await Promise.all([alice.untilText(want), bob.untilText(want), carol.untilText(want)])
    await alice.status('synced')
    assert.match(await textOf(alice.page.locator('#conn-status')), /Back online/)
    await alice.flushed()
    const states = await alice.page.evaluate(() => window.bannerStates)
    const r = states.indexOf('reconnecting')
    assert.ok(r >= 0 && states.indexOf('synced', r) > r, `banner states ${states.join(' → ')}`)

    // Both go on editing after the reconnect.
    await alice.type('!')
    await Promise.all([bob.untilText(`${want}!`), carol.untilText(`${want}!`)])
  })

  test('a fresh page loads the notes from a snapshot plus the updates after it', async () => {
    // A snapshot every 10 updates: one at 10, and the 5 updates or fewer after it are not covered.
    const alice = await open('alice', 'snapshots', { query: { snapshotEvery: '10' } })
    for (const ch of 'abcdefghijkl') {
      await alice.type(ch)
      await alice.flushed() // one update per character
    }
    const stored = Number(await alice.page.locator('#doc-status[data-snapshot-stored]').getAttribute('data-snapshot-stored'))
    assert.ok(stored >= 10 && stored <= 12, `a snapshot was stored at ${stored}`)
    await alice.type('XYZ')
    await alice.flushed()

    const dave = await open('dave', 'snapshots', { query: { snapshotEvery: '0' } })
    assert.equal(await dave.text(), 'abcdefghijklXYZ')
    const status = dave.page.locator('#doc-status')
    const snapshot = Number(await status.getAttribute('data-snapshot'))
    const updates = Number(await status.getAttribute('data-updates'))
    assert.ok(snapshot >= stored, `loaded from the snapshot at ${snapshot}`)
    assert.ok(updates >= 1, `and ${updates} updates after it`)
    assert.match(await textOf(status), /^Loaded a snapshot at offset \d+ and \d+ updates in \d+ ms$/)

    // The snapshot holds what it covers: dave edits on, alice sees it.
    await dave.editor.press('Control+End')
    await dave.type('!')
    await alice.untilText('abcdefghijklXYZ!')
  })

  test('the chat page links to the notes', async () => {
    const context = await browser.newContext({ baseURL: server.url })
    try {
      const page = await context.newPage()
      await page.goto('/')
      await page.getByRole('link', { name: 'Shared notes' }).click()
      await page.waitForURL('**/collab')
      await page.getByRole('button', { name: 'Start editing' }).waitFor()
    } finally {
      await context.close()
    }
  })
})
