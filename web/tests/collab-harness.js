// Pages of the shared notes (/collab) for the browser tests and the load
// figure: one person is a browser context of their own with one page on a
// room's notes. Page errors and console errors are collected like the chat
// harness's User does.

import { WAIT_MS } from './harness.js'

/** Notes is one person's page on the shared notes of a room. */
export class Notes {
  /**
   * open opens /collab on room as name. With form the name is typed into
   * the sign-in form, otherwise it comes in the URL. query adds parameters
   * (snapshotEvery). It resolves once the notes are loaded and editable.
   */
  static async open(browser, server, name, room, { form = false, query = {} } = {}) {
    const n = new Notes()
    n.name = name
    n.room = room
    n.context = await browser.newContext({ viewport: { width: 1100, height: 700 }, baseURL: server.url })
    n.context.setDefaultTimeout(WAIT_MS)
    n.page = await n.context.newPage()
    n.errors = []
    n.expected = [] // console errors a test expects, as regular expressions
    n.page.on('pageerror', (err) => n.errors.push(`pageerror: ${err.message}`))
    n.page.on('console', (msg) => {
      if (msg.type() === 'error' && !n.expected.some((re) => re.test(msg.text()))) n.errors.push(`console: ${msg.text()}`)
    })
    const params = new URLSearchParams({ room, ...query })
    if (!form) params.set('name', name)
    await n.page.goto(`/collab?${params}`)
    if (form) {
      await n.page.getByLabel('Your name').fill(name)
      await n.page.getByRole('button', { name: 'Start editing' }).click()
    }
    await n.synced()
    return n
  }

  get editor() {
    return this.page.locator('#editor')
  }

  /** synced waits until the banner says the notes are in sync and the editor is enabled. */
  async synced() {
    await this.page.locator('#conn-status[data-state="synced"]').waitFor()
    await this.page.locator('#editor:not([disabled])').waitFor()
  }

  /** status waits until the connection banner is in state. */
  async status(state) {
    await this.page.locator(`#conn-status[data-state="${state}"]`).waitFor()
  }

  /** text is the editor's current text. */
  text() {
    return this.editor.inputValue()
  }

  /** untilText waits until the editor's text is want. */
  async untilText(want) {
    try {
      await this.page.waitForFunction((w) => document.getElementById('editor').value === w, want, { timeout: WAIT_MS })
    } catch (err) {
      throw new Error(`${this.name}'s notes are ${JSON.stringify(await this.text())}, want ${JSON.stringify(want)}`, { cause: err })
    }
  }

  /** flushed waits until every edit of this page is acknowledged by the server. */
  async flushed() {
    await this.page.locator('#editor[data-pending="0"]').waitFor({ state: 'attached' })
  }

  /** type types text at the caret, key by key. */
  async type(text) {
    await this.editor.pressSequentially(text)
  }

  assertNoErrors() {
    if (this.errors.length) throw new Error(`${this.name}'s page reported errors:\n${this.errors.join('\n')}`)
  }

  async close() {
    await this.context.close()
  }
}
