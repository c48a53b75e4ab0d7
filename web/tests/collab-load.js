// The load-time figure of the shared notes (not a test): how long a fresh
// Chromium page takes to load a document of 10,000 Yjs updates at /collab,
// once from the updates alone and once after a snapshot was uploaded.
//
//   node --experimental-websocket web/tests/collab-load.js
//
// It starts a troupe server (web/testkit, SQLite, --rate-limit 0 so that the
// writer is not held to 20 updates/s), writes UPDATES (default 10,000)
// one-character Yjs updates to the room "load" through the JavaScript
// client, then times RUNS (default 3) fresh pages from navigation until
// their text equals the expected text, without and then with a snapshot.
// It prints each run and the median, in ms: "page" is navigation to the
// text shown, "sync" the page's own time from its start to the provider's
// first sync.

import { TroupeClient } from '../../clients/js/src/index.js'
import * as Y from '../static/vendor/yjs.mjs'
import { Server, launchBrowser } from './harness.js'

const UPDATES = Number(process.env.UPDATES ?? 10000)
const RUNS = Number(process.env.RUNS ?? 3)
const ROOM = 'load'
const IN_FLIGHT = 64
const LOAD_TIMEOUT_MS = 120000

async function main() {
  if (typeof WebSocket === 'undefined') throw new Error('run with node --experimental-websocket')
  const server = await Server.start({ flags: ['--rate-limit', '0'] })
  let browser
  const client = new TroupeClient({ url: server.url, name: 'writer' })
  try {
    await client.connect()
    await client.join(ROOM)

    // One update per character, as typing makes them.
    const doc = new Y.Doc()
    const updates = []
    doc.on('update', (u) => updates.push(u))
    const text = doc.getText('notes')
    for (let i = 0; i < UPDATES; i++) text.insert(i, String.fromCharCode(97 + (i % 26)))
    const want = text.toString()

    const wrote = performance.now()
    let next = 0
    let last = 0
    const worker = async () => {
      while (next < updates.length) {
        const ack = await client.docUpdate(ROOM, updates[next++])
        if (ack.offset > last) last = ack.offset
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
    const bytes = updates.reduce((n, u) => n + u.length, 0)
    console.log(`wrote ${updates.length} updates (${bytes} bytes) through offset ${last} in ${Math.round(performance.now() - wrote)} ms`)

    browser = await launchBrowser()
    const load = async () => {
      const context = await browser.newContext({ baseURL: server.url })
      try {
        const page = await context.newPage()
        const start = performance.now()
        await page.goto(`/collab?room=${ROOM}&name=reader&snapshotEvery=0`)
        await page.waitForFunction((w) => document.getElementById('editor').value === w, want, { timeout: LOAD_TIMEOUT_MS })
        const ms = performance.now() - start
        const status = page.locator('#doc-status')
        return {
          ms,
          syncMs: Number(await status.getAttribute('data-load-ms')),
          snapshot: await status.getAttribute('data-snapshot'),
          updates: Number(await status.getAttribute('data-updates')),
        }
      } finally {
        await context.close()
      }
    }
    const measure = async (label) => {
      const runs = []
      for (let i = 0; i < RUNS; i++) runs.push(await load())
      const r = runs[0]
      const from = r.snapshot ? `snapshot at ${r.snapshot} + ${r.updates} updates` : `${r.updates} updates`
      console.log(`${label} (${from}): page ${runs.map((x) => Math.round(x.ms)).join(', ')} ms, median ${median(runs.map((x) => x.ms))} ms; ` +
        `sync ${runs.map((x) => x.syncMs).join(', ')} ms, median ${median(runs.map((x) => x.syncMs))} ms`)
    }

    await measure('without a snapshot')
    const snap = Y.encodeStateAsUpdate(doc)
    const res = await client.docSnapshot(ROOM, last, snap)
    console.log(`snapshot of ${snap.length} bytes at offset ${res.offset} (stored: ${res.stored})`)
    await measure('with a snapshot')
  } finally {
    client.close()
    await browser?.close()
    await server.stop()
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.floor(s.length / 2)])
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
