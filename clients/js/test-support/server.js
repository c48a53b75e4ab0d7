// A real troupe server for integration tests: the binary is built once per
// test process from the repository root, and each test starts its own
// server on 127.0.0.1:0 with a SQLite store in a temp dir. Every server is
// killed when its test ends (and, as a last resort, when the process exits).

import { execFile, spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/** The repository root: clients/js/test-support/ → ../../../ */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

/** The API key every test server is started with. */
export const API_KEY = 'k'

const START_TIMEOUT_MS = 20000
const STOP_TIMEOUT_MS = 5000

const children = new Set()
const buildDirs = []
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  for (const dir of buildDirs) rmSync(dir, { recursive: true, force: true })
})

let built = null

/** buildServer builds ./cmd/troupe once per process and resolves with the binary's path. */
export function buildServer() {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'troupe-js-bin-'))
    buildDirs.push(dir)
    const bin = join(dir, 'troupe')
    const go = process.env.GO || (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go')
    const build = () => promisify(execFile)(go, ['build', '-o', bin, './cmd/troupe'], { cwd: repoRoot, timeout: 300000 })
    try {
      await build()
    } catch {
      // Once more: a build racing another on the shared Go cache can fail
      // spuriously. A real compile error fails again, and is reported.
      await build()
    }
    return bin
  })()
  return built
}

/**
 * startServer runs a troupe server for test t with extra flags and resolves
 * with {url, drill(spec), killConns(n), logs()}. The server is stopped when
 * t ends.
 */
export async function startServer(t, ...flags) {
  const bin = await buildServer()
  const dir = await mkdtemp(join(tmpdir(), 'troupe-js-'))
  const args = [
    '--addr', '127.0.0.1:0',
    '--store', `sqlite://${join(dir, 't.db')}`,
    '--api-key', API_KEY,
    '--log-format', 'json',
    '--log-level', 'info',
    ...flags,
  ]
  // The server reads TROUPE_* variables; the tests' configuration is the flags alone.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TROUPE_')))
  const child = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  children.add(child)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.after(async () => {
    await stop(child, exited)
    children.delete(child)
    await rm(dir, { recursive: true, force: true })
  })

  const logs = [] // the latest lines, for failure messages
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`troupe did not start within ${START_TIMEOUT_MS} ms:\n${logs.join('\n')}`)), START_TIMEOUT_MS)
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`troupe exited (${code ?? signal}) before serving:\n${logs.join('\n')}`))
    })
    // Reading every line also keeps the pipe drained while the server runs.
    createInterface({ input: child.stderr }).on('line', (line) => {
      logs.push(line)
      if (logs.length > 200) logs.shift()
      let rec
      try {
        rec = JSON.parse(line)
      } catch {
        return
      }
      if (rec.msg === 'troupe serving' && rec.addr) {
        clearTimeout(timer)
        resolve(rec.addr)
      }
    })
  })
  const url = `http://${addr}`
  const headers = { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' }

  /** drill starts a drill through the server API and resolves with its report once it ended. */
  async function drill(spec) {
    const res = await fetch(`${url}/api/drills`, { method: 'POST', headers, body: JSON.stringify(spec) })
    const started = await res.json()
    if (res.status !== 202) throw new Error(`drill ${JSON.stringify(spec)}: HTTP ${res.status} ${JSON.stringify(started)}`)
    const done = await fetch(`${url}/api/drills/${started.id}?wait=30s`, { headers })
    return done.json()
  }

  /** killConns kills every welcomed connection (sockets close with 1011) and checks at least n died. */
  async function killConns(n) {
    const rep = await drill({ kind: 'conn-kill', fraction: 1 })
    if (!(rep.injected >= n)) throw new Error(`conn-kill killed ${rep.injected} connections, want ${n}: ${JSON.stringify(rep)}`)
    return rep
  }

  return { url, drill, killConns, logs: () => logs.join('\n') }
}

/** stop ends the server: SIGTERM, then SIGKILL if it has not exited in time. */
async function stop(child, exited) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}
