// Browser tests of the demo chat page: a real troupe server, real headless
// Chromium, two people (separate browser contexts) talking through the page.
// Every wait is a Playwright auto-wait (locator.waitFor) or a
// page.waitForFunction on a condition; no fixed sleeps.

import assert from 'node:assert/strict'
import { after, afterEach, before, describe, test } from 'node:test'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Server, User, launchBrowser, textOf } from './harness.js'

// Screenshots of the tests, kept as artifacts (git-ignored).
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')
mkdirSync(ARTIFACTS, { recursive: true })
const artifact = (name) => join(ARTIFACTS, name)

// A 1×1 red PNG.
const PNG_DATA_URL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='

describe('demo chat page', () => {
  let server
  let browser
  const users = []

  async function open(name, opts) {
    const u = await User.open(browser, server, name, opts)
    users.push(u)
    return u
  }

  before(async () => {
    server = await Server.start()
    browser = await launchBrowser()
  }, { timeout: 300000 })

  afterEach(async () => {
    const open = users.splice(0)
    try {
      for (const u of open) u.assertNoErrors()
    } finally {
      await Promise.all(open.map((u) => u.close()))
    }
  })

  after(async () => {
    try {
      await browser?.close()
    } finally {
      await server?.stop()
    }
  })

  test('two people see each other\'s messages with sender names, and both in presence', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('lobby')
    await bob.join('lobby')

    // Presence: each sees both names; alice learns of bob through a presence diff.
    for (const u of [alice, bob]) {
      await u.page.locator('#members li', { hasText: 'alice' }).waitFor()
      await u.page.locator('#members li', { hasText: 'bob' }).waitFor()
      assert.equal(await textOf(u.page.locator('#people-count')), '(2)')
    }
    assert.match(await textOf(alice.page.locator('#members li', { hasText: 'alice' })), /\(you\)/)

    await alice.send('hello from alice')
    const seen = await bob.message('hello from alice', { acked: true })
    assert.equal(await textOf(seen.locator('.msg-from')), 'alice')
    assert.match(await seen.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/)

    await bob.send('hi alice, bob here')
    const back = await alice.message('hi alice, bob here', { acked: true })
    assert.equal(await textOf(back.locator('.msg-from')), 'bob')

    // Alice's own message shows as hers and is no longer pending.
    const own = await alice.message('hello from alice', { acked: true })
    assert.equal(await own.locator('.msg-status').count(), 0)
    assert.match(await own.getAttribute('class'), /\bmine\b/)

    // Bob leaves: alice's presence list drops him.
    await bob.page.getByRole('button', { name: 'Leave lobby' }).click()
    await alice.page.locator('#members li', { hasText: 'bob' }).waitFor({ state: 'detached' })
    assert.equal(await textOf(alice.page.locator('#people-count')), '(1)')
  })

  test('Chromium chats compressed: permessage-deflate is negotiated and long messages go deflated', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('deflate')
    await bob.join('deflate')
    const ext = await alice.page.evaluate((url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', 'troupe.v1')
      ws.onopen = () => { resolve(ws.extensions); ws.close() }
      ws.onerror = () => reject(new Error('websocket failed'))
    }), server.url)
    assert.match(ext, /permessage-deflate/)
    assert.match(ext, /server_no_context_takeover/)
    const deflatedBefore = await deflatedBytes(server)
    const long = 'a long message goes out deflated, once for every member. '.repeat(12)
    await alice.send(long)
    await bob.message(long.trim(), { acked: true })
    assert.ok(await deflatedBytes(server) > deflatedBefore, 'the broadcast went out deflated')
    alice.assertNoErrors()
    bob.assertNoErrors()
  })

  test('public rooms are listed and can be joined and left', async () => {
    const alice = await open('alice')
    await alice.join('open-room')
    const bob = await open('bob')
    await bob.page.getByRole('button', { name: 'Refresh public rooms' }).click()
    const listed = bob.page.locator('#public-rooms button[data-room="open-room"]')
    await listed.waitFor()
    assert.equal(await listed.getAttribute('aria-label'), 'Join open-room, 1 member')

    await listed.click()
    await bob.page.locator('#room-title', { hasText: '#open-room' }).waitFor()
    await bob.page.locator('#joined-rooms [data-room="open-room"]').waitFor()
    await alice.page.locator('#members li', { hasText: 'bob' }).waitFor()
    // The listing follows presence: two members now, on both pages.
    await alice.page.locator('#public-rooms button[aria-label="Open open-room, 2 members"]').waitFor()
    await bob.page.locator('#public-rooms button[aria-label="Open open-room, 2 members"]').waitFor()

    await bob.page.getByRole('button', { name: 'Leave open-room' }).click()
    await bob.page.locator('#joined-rooms [data-room="open-room"]').waitFor({ state: 'detached' })
    assert.notEqual(await textOf(bob.page.locator('#room-title')), '#open-room')
    await alice.page.locator('#members li', { hasText: 'bob' }).waitFor({ state: 'detached' })
  })

  test('user content is shown as text, never as markup', async () => {
    const alice = await open('<b>alice</b>')
    const bob = await open('bob')
    await alice.join('escape')
    await bob.join('escape')
    const nasty = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    await alice.send(nasty)
    const m = await bob.message('<img src=x', { acked: true })
    assert.equal(await textOf(m.locator('.msg-text')), nasty)
    assert.equal(await textOf(m.locator('.msg-from')), '<b>alice</b>')
    assert.equal(await m.locator('img, script, b').count(), 0)
    assert.equal(await bob.page.evaluate(() => window.pwned), undefined)
  })

  test('typing indicator shows while alice types and goes on send', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('typing-room')
    await bob.join('typing-room')
    await bob.page.locator('#members li', { hasText: 'alice' }).waitFor()

    const typing = bob.page.locator('#typing')
    assert.equal(await textOf(typing), '')
    await alice.page.getByLabel('Message', { exact: true }).pressSequentially('still thinking', { delay: 20 })
    await bob.page.locator('#typing', { hasText: 'alice is typing…' }).waitFor()

    await alice.page.getByLabel('Message', { exact: true }).press('Enter')
    await bob.message('still thinking', { acked: true })
    await bob.page.waitForFunction(() => document.getElementById('typing').textContent === '')
    // Alice never sees herself typing.
    assert.equal(await textOf(alice.page.locator('#typing')), '')
  })

  test('a reply shows the quoted parent', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('replies')
    await bob.join('replies')
    await alice.send('what time is the meeting?')
    const parent = await bob.message('what time is the meeting?', { acked: true })
    const parentId = await parent.getAttribute('data-id')

    await parent.getByRole('button', { name: /^Reply to alice/ }).click()
    await bob.page.locator('#reply-preview', { hasText: 'Replying to alice: what time is the meeting?' }).waitFor()
    assert.equal(await bob.page.evaluate(() => document.activeElement.id), 'composer-text')
    await bob.send('at three')
    await bob.page.locator('#reply-preview').waitFor({ state: 'hidden' })

    for (const u of [alice, bob]) {
      const reply = await u.message('at three', { acked: true })
      const quote = reply.locator('.quote')
      assert.equal(await textOf(quote.locator('.quote-from')), 'alice')
      assert.equal(await textOf(quote.locator('.quote-text')), 'what time is the meeting?')
      assert.equal(await quote.getAttribute('href'), `#msg-${parentId}`)
    }
  })

  test('an image message renders an <img>', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('pictures')
    await bob.join('pictures')

    await alice.page.getByText('Attach an image').click()
    await alice.page.getByLabel('Image URL').fill(PNG_DATA_URL)
    await alice.send('a red dot')

    const m = await bob.message('a red dot', { acked: true })
    const img = m.locator('img.msg-image')
    await img.waitFor()
    assert.equal(await img.getAttribute('src'), PNG_DATA_URL)
    assert.equal(await img.getAttribute('alt'), 'Image: a red dot')
    // It loaded: the CSP let it through and the browser decoded it.
    await bob.page.waitForFunction((el) => el.complete && el.naturalWidth === 1, await img.elementHandle())

    // A small file from the device goes inline, as a data: URL.
    await bob.page.getByText('Attach an image').click()
    await bob.page.getByLabel('…or a small image file (up to 40 KB)').setInputFiles({
      name: 'dot.png', mimeType: 'image/png', buffer: Buffer.from(PNG_DATA_URL.split(',')[1], 'base64'),
    })
    await bob.page.waitForFunction(() => document.getElementById('image-url').value.startsWith('data:image/png;base64,'))
    await bob.send('from a file')
    const fromFile = await alice.message('from a file', { acked: true })
    await alice.page.waitForFunction((el) => el.complete && el.naturalWidth === 1, await fromFile.locator('img.msg-image').elementHandle())

    // An address the page does not show is refused before sending.
    await alice.page.getByText('Attach an image').click()
    await alice.page.getByLabel('Image URL').fill('javascript:alert(1)')
    await alice.page.getByLabel('Message', { exact: true }).fill('nope')
    await alice.page.getByLabel('Message', { exact: true }).press('Enter')
    await alice.page.locator('#alerts', { hasText: 'cannot be shown' }).waitFor()
    assert.equal(await alice.page.locator('.message-list:visible li.msg', { hasText: 'nope' }).count(), 0)
  })

  test('the server drops one browser: it reconnects by itself and shows every missed message once, in order', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('drill')
    await bob.join('drill')
    await alice.send('before the drill')
    await bob.message('before the drill', { acked: true })

    // Record every state the banner goes through.
    await alice.page.evaluate(() => {
      const el = document.getElementById('conn-status')
      window.bannerStates = [el.dataset.state]
      new MutationObserver(() => {
        const s = el.dataset.state
        if (window.bannerStates.at(-1) !== s) window.bannerStates.push(s)
      }).observe(el, { attributes: true, childList: true, characterData: true, subtree: true })
    })

    // The server kills alice's connection only (a conn-kill drill aimed at
    // her user); alice is also kept offline for a moment, so bob's messages
    // can reach her only through recovery. Chromium logs each reconnect
    // attempt that fails meanwhile.
    const presence = await server.api('GET', '/api/rooms/drill/presence')
    const aliceID = presence.members.find((m) => m.name === 'alice').id
    alice.expected.push(/^WebSocket connection to .* failed/)
    await alice.context.setOffline(true)
    const drill = await server.api('POST', '/api/drills', { kind: 'conn-kill', user: aliceID })
    assert.equal(drill.spec.user, aliceID)
    await alice.status('reconnecting')
    assert.match(await textOf(alice.page.locator('#conn-status')), /Reconnecting \(attempt \d+, next try in [\d.]+ s\)/)
    await alice.page.screenshot({ path: artifact('reconnecting.png') })

    // Bob was not dropped: he keeps sending while alice is away.
    const missed = ['missed one', 'missed two', 'missed three']
    for (const text of missed) await bob.send(text)
    for (const text of missed) await bob.message(text, { acked: true })
    assert.equal(await bob.page.evaluate(() => document.getElementById('conn-status').dataset.state), 'connected')
    assert.equal(await alice.page.locator('.msg-text', { hasText: 'missed' }).count(), 0)

    await alice.context.setOffline(false)
    await alice.status('recovered')
    assert.match(await textOf(alice.page.locator('#conn-status')), /All missed messages recovered/)
    for (const text of missed) {
      const m = await alice.message(text, { acked: true })
      assert.equal(await textOf(m.locator('.msg-from')), 'bob')
    }
    // Every missed message once, in the order bob sent them.
    const texts = await alice.page.locator('.message-list:visible .msg-text').allTextContents()
    assert.deepEqual(texts.filter((t) => t.startsWith('missed')), missed)
    await alice.page.screenshot({ path: artifact('recovered.png') })

    const states = await alice.page.evaluate(() => window.bannerStates)
    const r = states.indexOf('reconnecting')
    assert.ok(r >= 0 && states.indexOf('recovered', r) > r, `banner states ${states.join(' → ')}`)

    // Both go on talking after the recovery.
    await alice.send('back again')
    await bob.message('back again', { acked: true })
  })

  test('a reload keeps the name, the session and the rooms', async () => {
    const alice = await open('alice')
    await alice.join('reload-room')
    await alice.send('remember me')
    const session = await alice.page.evaluate(() => sessionStorage.getItem('troupe.demo.session'))
    assert.match(session ?? '', /\S/)

    await alice.page.reload()
    await alice.status('connected')
    assert.equal(await textOf(alice.page.locator('#my-name')), 'alice')
    await alice.page.locator('#room-title', { hasText: '#reload-room' }).waitFor()
    await alice.message('remember me', { acked: true })
    // The server resumed the same session (an unknown one would get a new id).
    assert.equal(await alice.page.evaluate(() => sessionStorage.getItem('troupe.demo.session')), session)
  })

  test('works on a 375×667 phone screen without horizontal scrolling', async () => {
    const alice = await open('alice', { viewport: { width: 375, height: 667 } })
    const bob = await open('bob')
    await alice.join('phone')
    await bob.join('phone')
    const long = `averyveryverylongwordwithoutanyspaces${'x'.repeat(300)}`
    await bob.send(long)
    await bob.page.getByText('Attach an image').click()
    await bob.page.getByLabel('Image URL').fill(PNG_DATA_URL)
    await bob.send('tiny picture')
    await alice.message('tiny picture', { acked: true })
    await alice.message('averyveryverylongword', { acked: true })
    await alice.send('typed on a phone')

    const fits = () => alice.page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      bodyScroll: document.body.scrollWidth,
    }))
    let m = await fits()
    assert.ok(m.scrollWidth <= m.innerWidth && m.bodyScroll <= m.innerWidth, JSON.stringify(m))

    // The side panels are closed; the toggles open them.
    const rooms = alice.page.locator('#rooms-panel')
    const toggle = alice.page.getByRole('button', { name: 'Rooms', exact: true })
    assert.equal(await rooms.isVisible(), false)
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false')
    await toggle.click()
    await rooms.waitFor()
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true')
    m = await fits()
    assert.ok(m.scrollWidth <= m.innerWidth, JSON.stringify(m))
    await alice.page.keyboard.press('Escape')
    await rooms.waitFor({ state: 'hidden' })

    await alice.page.getByRole('button', { name: /^People/ }).click()
    await alice.page.locator('#members li', { hasText: 'bob' }).waitFor()

    // The message box and send button stay on screen.
    for (const sel of ['#composer-text', '#send']) {
      const box = await alice.page.locator(sel).boundingBox()
      assert.ok(box && box.x >= 0 && box.x + box.width <= 375 && box.y + box.height <= 667, `${sel} ${JSON.stringify(box)}`)
    }
  })

  test('accessibility basics: labels, live regions, names, keyboard', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    await alice.join('a11y')
    await bob.join('a11y')
    await bob.send('hello accessible world')
    await alice.message('hello accessible world', { acked: true })

    const report = await alice.page.evaluate(() => {
      const problems = []
      const name = (el) => (el.getAttribute('aria-label') || el.textContent || '').trim() ||
        (el.getAttribute('aria-labelledby') || '').split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join('').trim()
      for (const el of document.querySelectorAll('input, textarea, select')) {
        const labelled = (el.labels && [...el.labels].some((l) => l.textContent.trim())) ||
          el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
        if (!labelled) problems.push(`no label: ${el.outerHTML.slice(0, 80)}`)
      }
      for (const el of document.querySelectorAll('button')) {
        if (!name(el)) problems.push(`button without a name: ${el.outerHTML.slice(0, 80)}`)
      }
      for (const el of document.querySelectorAll('img')) {
        if (!el.hasAttribute('alt')) problems.push(`img without alt: ${el.outerHTML.slice(0, 80)}`)
      }
      const lists = [...document.querySelectorAll('.message-list')].filter((l) => !l.hidden)
      if (lists.length !== 1) problems.push(`${lists.length} visible message lists`)
      for (const l of lists) {
        if (l.getAttribute('aria-live') !== 'polite') problems.push('message list without aria-live=polite')
        if (l.getAttribute('role') !== 'log') problems.push('message list without role=log')
        if (!l.getAttribute('aria-label')) problems.push('message list without a name')
      }
      const status = document.getElementById('conn-status')
      if (status.getAttribute('role') !== 'status' || !status.getAttribute('aria-live')) problems.push('banner is not a live status')
      if (!document.getElementById('typing').getAttribute('aria-live')) problems.push('typing line is not live')
      if (!document.documentElement.lang) problems.push('no lang')
      if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1')
      const main = document.querySelector('main')
      if (!main || !lists.every((l) => main.contains(l)) || !main.contains(document.getElementById('composer'))) {
        problems.push('the chat is not inside the main landmark')
      }
      const ids = [...document.querySelectorAll('[id]')].map((e) => e.id)
      const dup = ids.filter((id, i) => ids.indexOf(id) !== i)
      if (dup.length) problems.push(`duplicate ids: ${dup.join(', ')}`)
      return problems
    })
    assert.deepEqual(report, [])

    // Keyboard only: reach Reply with Tab, answer with Enter, cancel with Escape.
    const reply = alice.page.getByRole('button', { name: /^Reply to bob/ })
    await reply.focus()
    await alice.page.keyboard.press('Enter')
    await alice.page.locator('#reply-preview').waitFor()
    assert.equal(await alice.page.evaluate(() => document.activeElement.id), 'composer-text')
    await alice.page.keyboard.press('Escape')
    await alice.page.locator('#reply-preview').waitFor({ state: 'hidden' })
    await alice.page.keyboard.type('sent with the keyboard')
    await alice.page.keyboard.press('Enter')
    await bob.message('sent with the keyboard', { acked: true })

    // Focus is visible: the focused button gets an outline.
    await reply.focus()
    await alice.page.keyboard.press('Shift+Tab')
    await alice.page.keyboard.press('Tab')
    const outline = await alice.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle)
    assert.notEqual(outline, 'none')
  })
})

// deflatedBytes reads how many bytes the server has sent deflated
// (troupe_deflate_output_bytes_total) from its /metrics.
async function deflatedBytes(server) {
  const text = await (await fetch(server.url + '/metrics')).text()
  const m = text.match(/^troupe_deflate_output_bytes_total (\S+)$/m)
  return m ? Number(m[1]) : 0
}
