// Shared by the browser test suites (web/tests, web/admin/tests): builds
// troupe from this repository and runs it on loopback with a fresh SQLite
// store and the API key k. Everything it starts it stops, also when a test
// fails or the runner is interrupted. No npm dependency: each suite brings
// its own playwright-core.

import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const API_KEY = 'k'

const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
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

/** Server is one troupe process on 127.0.0.1 with its own data directory. */
export class Server {
  /** start builds troupe and runs it; flags are extra command-line flags (e.g. ['--rate-limit', '0']). */
  static async start({ flags = [] } = {}) {
    const s = new Server()
    s.flags = flags
    s.dir = mkdtempSync(join(tmpdir(), 'troupe-web-'))
    s.bin = join(s.dir, 'troupe')
    const build = spawnSync(goBinary(), ['build', '-o', s.bin, './cmd/troupe'], {
      cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    })
    if (build.error || build.status !== 0) {
      s.cleanup()
      throw new Error(`go build failed: ${build.error ?? ''}\n${build.stdout}${build.stderr}`)
    }
    await s.spawn()
    return s
  }

  /** spawn starts the binary on a port the kernel picks and waits until /readyz answers 200. */
  async spawn() {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TROUPE_')))
    const child = spawn(this.bin, [
      '--addr', '127.0.0.1:0',
      '--store', `sqlite://${join(this.dir, 't.db')}`,
      '--api-key', API_KEY,
      ...(this.flags ?? []),
    ], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    children.add(child)
    this.child = child
    this.log = ''
    this.exited = new Promise((res) => child.once('exit', (code, signal) => {
      children.delete(child)
      res({ code, signal })
    }))
    // The server logs the address it bound: "troupe serving addr=127.0.0.1:NNNNN".
    this.url = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`troupe did not start:\n${this.log}`)), 30000)
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk) => {
        this.log += chunk
        if (this.log.length > 1 << 20) this.log = this.log.slice(-(1 << 19))
        const m = /troupe serving"?.*?\baddr"?[=:]"?(127\.0\.0\.1:\d+)/.exec(this.log)
        if (m) {
          clearTimeout(timer)
          res(`http://${m[1]}`)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        rej(new Error(`troupe exited with ${code} before serving:\n${this.log}`))
      })
    })
    await this.waitReady()
  }

  async waitReady() {
    const deadline = Date.now() + 30000
    for (;;) {
      try {
        const r = await fetch(`${this.url}/readyz`)
        if (r.ok) return
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`troupe not ready:\n${this.log}`)
      await new Promise((res) => setTimeout(res, 50))
    }
  }

  /** api calls the server API with the key. */
  async api(method, path, body) {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`)
    return text ? JSON.parse(text) : null
  }

  async stop() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM')
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10000)
      await this.exited
      clearTimeout(t)
    }
    this.cleanup()
  }

  cleanup() {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true })
  }
}
