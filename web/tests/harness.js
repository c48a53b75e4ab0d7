// Test harness of the demo page: the troupe server (web/testkit) and Debian's
// Chromium through playwright-core.

import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { API_KEY, REPO_ROOT, Server } from '../testkit/server.js'

export { API_KEY, REPO_ROOT, Server }
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/** How long any single wait for the page may take. */
export const WAIT_MS = 20000

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  })
}

/**
 * User is one person: a browser context of their own (own storage) with one
 * page on the chat. Page errors and console errors (CSP violations among
 * them) are collected; a test checks them with assertNoErrors.
 */
export class User {
  static async open(browser, server, name, { viewport = { width: 1200, height: 800 } } = {}) {
    const u = new User()
    u.name = name
    u.server = server
    u.context = await browser.newContext({ viewport, baseURL: server.url })
    u.context.setDefaultTimeout(WAIT_MS)
    u.page = await u.context.newPage()
    u.errors = []
    u.expected = [] // console errors a test expects, as regular expressions
    u.page.on('pageerror', (err) => u.errors.push(`pageerror: ${err.message}`))
    u.page.on('console', (msg) => {
      if (msg.type() === 'error' && !u.expected.some((re) => re.test(msg.text()))) u.errors.push(`console: ${msg.text()}`)
    })
    await u.page.goto('/')
    await u.page.getByLabel('Your name').fill(name)
    await u.page.getByRole('button', { name: 'Start chatting' }).click()
    await u.status('connected')
    return u
  }

  /** status waits until the connection banner is in state. */
  async status(state) {
    await this.page.locator(`#conn-status[data-state="${state}"]`).waitFor()
  }

  /** join joins (or creates) room through the form and waits until it is shown. */
  async join(room) {
    const p = this.page
    if (!(await p.locator('#join-name').isVisible())) await p.getByRole('button', { name: 'Rooms' }).click()
    await p.getByLabel('Join or create a room').fill(room)
    await p.getByLabel('Join or create a room').press('Enter')
    await p.locator('#room-title', { hasText: `#${room}` }).waitFor()
    await p.locator(`#joined-rooms [data-room="${room}"][aria-current="true"]`).waitFor({ state: 'attached' })
  }

  /** send types text in the message box and presses Enter; it waits until the server acked it. */
  async send(text) {
    const box = this.page.getByLabel('Message', { exact: true })
    await box.fill(text)
    await box.press('Enter')
    await this.message(text, { acked: true })
  }

  /** message is the shown message whose text is text (acked: it has its server id). */
  message(text, { acked = false } = {}) {
    const list = this.page.locator('.message-list:visible')
    const item = list.locator(acked ? 'li.msg[data-id]' : 'li.msg').filter({
      has: this.page.locator('.msg-text', { hasText: text }),
    })
    return item.first().waitFor().then(() => item.first())
  }

  assertNoErrors() {
    if (this.errors.length) throw new Error(`${this.name}'s page reported errors:\n${this.errors.join('\n')}`)
  }

  async close() {
    await this.context.close()
  }
}

/** textOf returns the trimmed textContent of the first element of locator. */
export async function textOf(locator) {
  return ((await locator.first().textContent()) ?? '').trim()
}
