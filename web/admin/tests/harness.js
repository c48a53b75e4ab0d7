// Test harness of the admin dashboard's browser tests: builds troupe, runs it
// on a free loopback port with a fresh SQLite store, connects real WebSocket
// clients, and launches Debian's Chromium through playwright-core.
// Everything it starts it stops, also when a test fails or the run is
// interrupted.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

export const HERE = dirname(fileURLToPath(import.meta.url))
export const REPO_ROOT = resolve(HERE, '..', '..', '..')
export const API_KEY = 'k'
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/** How long any single wait may take. */
export const WAIT_MS = 20000

const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    process.exit(130)
  })
}

function goBinary() {
  if (process.env.GO) return process.env.GO
  const which = spawnSync('go', ['version'], { stdio: 'ignore' })
  if (!which.error && which.status === 0) return 'go'
  return '/usr/local/go/bin/go'
}

/** freePort asks the kernel for a free loopback port. */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

/** Server is one troupe process on 127.0.0.1 with its own data directory. */
export class Server {
  static async start() {
    const s = new Server()
    s.dir = mkdtempSync(join(tmpdir(), 'troupe-admin-'))
    s.bin = join(s.dir, 'troupe')
    const build = spawnSync(goBinary(), ['build', '-o', s.bin, './cmd/troupe'], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (build.error || build.status !== 0) {
      s.cleanup()
      throw new Error(`go build failed: ${build.error ?? ''}\n${build.stdout}${build.stderr}`)
    }
    // A port found free can be taken before the server binds it: try again then.
    for (let attempt = 1; ; attempt++) {
      try {
        await s.spawn(await freePort())
        return s
      } catch (err) {
        await s.stop({ keepDir: true })
        if (attempt === 3) {
          s.cleanup()
          throw err
        }
      }
    }
  }

  /** spawn starts the binary on port and waits until /readyz answers 200. */
  async spawn(port) {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TROUPE_')))
    const child = spawn(this.bin, [
      '--addr', `127.0.0.1:${port}`,
      '--store', `sqlite://${join(this.dir, 't.db')}`,
      '--api-key', API_KEY,
      '--log-level', 'error',
    ], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    children.add(child)
    this.child = child
    this.url = `http://127.0.0.1:${port}`
    this.log = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => {
      this.log = (this.log + chunk).slice(-(1 << 16))
    })
    this.exited = new Promise((res) => child.once('exit', (code, signal) => {
      children.delete(child)
      res({ code, signal })
    }))
    const deadline = Date.now() + 30000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`troupe exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.log}`)
      }
      try {
        const r = await fetch(`${this.url}/readyz`)
        if (r.ok) return
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`troupe not ready after 30s:\n${this.log}`)
      await new Promise((res) => setTimeout(res, 50)) // polling a condition, not a fixed wait
    }
  }

  async stop({ keepDir = false } = {}) {
    const child = this.child
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 10000)
      await this.exited
      clearTimeout(t)
    }
    if (!keepDir) this.cleanup()
  }

  cleanup() {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true })
  }
}

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
