// Test harness of the admin dashboard's browser tests: the troupe server
// (web/testkit), real WebSocket clients, and Debian's Chromium through
// playwright-core.

import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { API_KEY, REPO_ROOT, Server } from '../../testkit/server.js'

export { API_KEY, REPO_ROOT, Server }
export const HERE = dirname(fileURLToPath(import.meta.url))
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/** How long any single wait may take. */
export const WAIT_MS = 20000

/**
 * Client is one real WebSocket client speaking troupe protocol v1. It keeps
 * every frame it receives; next() waits for a frame matching a predicate.
 */
export class Client {
  static async connect(server, name) {
    if (typeof WebSocket !== 'function') {
      throw new Error('no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22+')
    }
    const c = new Client()
    c.frames = []
    c.waiters = []
    c.lastId = 0
    c.ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`, 'troupe.v1')
    c.ws.addEventListener('message', (ev) => {
      const frame = JSON.parse(ev.data)
      c.frames.push(frame)
      for (const w of [...c.waiters]) {
        if (w.match(frame)) {
          c.waiters.splice(c.waiters.indexOf(w), 1)
          clearTimeout(w.timer)
          w.resolve(frame)
        }
      }
    })
    c.closed = new Promise((res) => c.ws.addEventListener('close', (ev) => res(ev)))
    await new Promise((res, rej) => {
      c.ws.addEventListener('open', res, { once: true })
      c.ws.addEventListener('error', () => rej(new Error(`${name}: WebSocket failed to open`)), { once: true })
    })
    const welcome = await c.request({ type: 'hello', name }, 'welcome')
    c.user = welcome.user
    return c
  }

  /** next resolves with the first frame (already received or coming) that matches. */
  next(match, what = 'a frame') {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const w = { match, resolve }
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new Error(`no ${what} within ${WAIT_MS} ms; got ${JSON.stringify(this.frames.slice(-5))}`))
      }, WAIT_MS)
      this.waiters.push(w)
    })
  }

  /** request sends frame with a fresh id and resolves with the answer of type want. */
  async request(frame, want) {
    const id = ++this.lastId
    this.ws.send(JSON.stringify({ ...frame, id }))
    const answer = await this.next((f) => f.id === id, `answer to ${frame.type} ${id}`)
    if (answer.type !== want) throw new Error(`${frame.type}: got ${JSON.stringify(answer)}, want ${want}`)
    return answer
  }

  join(room) {
    return this.request({ type: 'join', room }, 'joined')
  }

  send(room, text) {
    return this.request({ type: 'send', room, text }, 'ack')
  }

  async close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000)
    await this.closed
  }
}

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
 * watchErrors collects the page's uncaught errors and console errors (CSP
 * and Trusted Types violations among them). The one console error the page
 * causes on purpose is the browser's note on a 401 answer, when a test logs
 * in with a wrong key; it is left out.
 */
export function watchErrors(page) {
  const errors = []
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    if (/Failed to load resource: the server responded with a status of 401/.test(msg.text())) return
    errors.push(`console: ${msg.text()}`)
  })
  return errors
}

/** textOf returns the trimmed textContent of the first element of locator. */
export async function textOf(locator) {
  return ((await locator.first().textContent()) ?? '').trim()
}
