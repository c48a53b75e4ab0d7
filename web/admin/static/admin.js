// troupe admin dashboard: the live actor tree, charts of the last minutes and
// recovery drills. No framework and no build step.
//
// Every element is built with DOM calls and every string from the server is
// set as text (textContent, Text nodes): the page's CSP requires Trusted
// Types and allows no policy, so an HTML sink would throw.
//
// Data sources, each polled every POLL_MS by one loop that waits for its
// previous answer (never two requests of one kind in flight):
//   GET /api/admin/tree   the actor tree (bearer API key), with this node,
//                         the cluster's live nodes and each room's owner
//   GET /metrics          Prometheus text format (no key); rates are computed
//                         here from the deltas of counters between samples
// Drills: POST /api/drills, then GET /api/drills/{id}?wait=30s until done.

const KEY_STORAGE = 'troupe.admin.apiKey'
const POLL_MS = 2000
const WINDOW_MS = 5 * 60 * 1000
const MAX_ROWS = 500
const MAX_DATALIST = 500
const HOT_MAILBOX = 100
const MAX_REPORTS = 10
const SVG_NS = 'http://www.w3.org/2000/svg'

const $ = (id) => document.getElementById(id)

/** el builds an HTML element; children are nodes or strings (as text). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') e.className = v
    else if (k === 'text') e.textContent = v
    else e.setAttribute(k, v === true ? '' : String(v))
  }
  e.append(...children)
  return e
}

/** svg builds an SVG element. */
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text !== undefined) e.textContent = text
  return e
}

/** setText changes an element's text only when it differs (no needless announcements or layout). */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })

/** fmt formats a number with at most three significant decimals. */
function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  const a = Math.abs(v)
  const digits = a === 0 || a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3
  return v.toLocaleString(undefined, { maximumFractionDigits: digits })
}

// ---------------------------------------------------------------------------
// Server API

/** Unauthorized is a 401 from the server API: the key is wrong or gone. */
class Unauthorized extends Error {}

/** APIError is any other answer outside 2xx, with the API's error code. */
class APIError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? ''

/** api calls the server API with the key and answers the decoded JSON. */
async function api(path, { method = 'GET', body, signal, key = apiKey } = {}) {
  const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const r = await fetch(path, {
    method, headers, signal, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await r.text()
  let data = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      data = null
    }
  }
  const message = data?.error?.message ?? `${r.status} ${r.statusText}`.trim()
  if (r.status === 401) throw new Unauthorized(message)
  if (!r.ok) throw new APIError(r.status, data?.error?.code ?? '', message)
  return data
}

// ---------------------------------------------------------------------------
// Session: login, logout, the polling loops

/** session is the running dashboard: its AbortController stops every loop and request. */
let session = null

function showLogin({ message = '', error = false } = {}) {
  session?.abort()
  session = null
  apiKey = ''
  sessionStorage.removeItem(KEY_STORAGE)
  $('dashboard').hidden = true
  $('nav').hidden = true
  $('logout').hidden = true
  $('login').hidden = false
  health.clear()
  renderHealth()
  const input = $('api-key')
  const msg = $('login-error')
  msg.classList.toggle('info', !error)
  setText(msg, message)
  if (error) input.setAttribute('aria-invalid', 'true')
  else input.removeAttribute('aria-invalid')
  input.focus()
}

function startDashboard(firstTree) {
  session?.abort()
  session = new AbortController()
  const { signal } = session
  $('login').hidden = true
  $('dashboard').hidden = false
  $('nav').hidden = false
  $('logout').hidden = false
  resetCharts()
  if (firstTree) renderTree(firstTree)
  poll('actor tree', signal, async () => renderTree(await api('/api/admin/tree', { signal })), !!firstTree)
  poll('metrics', signal, async () => addSample(await fetchMetrics(signal)))
  $('main').focus()
}

/** sessionEnded answers a 401 in the middle of a session: back to the login form. */
function sessionEnded(err) {
  showLogin({ message: `The server refused the API key (401: ${err.message}). Log in again.`, error: true })
}

/**
 * poll runs fn now (or after POLL_MS when delayFirst) and then POLL_MS after
 * each start, never overlapping, until signal aborts.
 */
function poll(name, signal, fn, delayFirst = false) {
  let timer
  const tick = async () => {
    const started = performance.now()
    try {
      await fn()
      health.delete(name)
    } catch (err) {
      if (signal.aborted) return
      if (err instanceof Unauthorized) {
        sessionEnded(err)
        return
      }
      health.set(name, err.message)
    }
    renderHealth()
    if (signal.aborted) return
    timer = setTimeout(tick, Math.max(0, POLL_MS - (performance.now() - started)))
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
  if (delayFirst) timer = setTimeout(tick, POLL_MS)
  else tick()
}

/** health holds the current problem of each loop, by loop name. */
const health = new Map()

function renderHealth() {
  const node = $('health')
  if (!session) {
    node.dataset.state = 'idle'
    setText(node, '')
    return
  }
  if (health.size === 0) {
    node.dataset.state = 'ok'
    setText(node, 'Live: updating every 2 s')
    return
  }
  node.dataset.state = 'error'
  setText(node, `Problem: ${[...health].map(([k, v]) => `${k}: ${v}`).join('; ')}. Retrying.`)
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const input = $('api-key')
  const msg = $('login-error')
  const key = input.value.trim()
  msg.classList.remove('info')
  if (!key) {
    setText(msg, 'Enter the API key.')
    input.setAttribute('aria-invalid', 'true')
    input.focus()
    return
  }
  const button = $('login-submit')
  button.disabled = true
  setText(msg, '')
  try {
    const tree = await api('/api/admin/tree', { key })
    apiKey = key
    sessionStorage.setItem(KEY_STORAGE, key)
    input.value = ''
    input.removeAttribute('aria-invalid')
    startDashboard(tree)
  } catch (err) {
    input.setAttribute('aria-invalid', 'true')
    if (err instanceof Unauthorized) {
      setText(msg, `Wrong API key: the server answered 401 (${err.message}).`)
    } else {
      setText(msg, `Could not log in: ${err.message}`)
    }
    input.focus()
    input.select()
  } finally {
    button.disabled = false
  }
})

$('logout').addEventListener('click', () => showLogin({ message: 'Logged out. The key was removed from this tab.' }))

// ---------------------------------------------------------------------------
// The actor tree

/** roomsView is the rooms table's state: sort, filter and the row of each room. */
const roomsView = {
  sort: 'room',
  dir: 1,
  filter: '',
  onlyHot: false,
  rooms: [],
  rows: new Map(), // room name → { tr, cells, flag }
}

const ROOM_COLUMNS = ['room', 'members', 'connections', 'offset', 'mailbox', 'restarts', 'private', 'epoch']

function isHot(r) {
  return r.restarts > 0 || r.mailbox > HOT_MAILBOX
}

function hotReason(r) {
  const why = []
  if (r.restarts > 0) why.push('restarted')
  if (r.mailbox > HOT_MAILBOX) why.push('mailbox backlog')
  return why.join(', ')
}

function renderTree(t) {
  const rooms = Array.isArray(t?.rooms) ? t.rooms : []
  const users = t?.users ?? { count: 0, ids: [] }
  const shards = Array.isArray(t?.shards) ? t.shards : []
  roomsView.rooms = rooms
  const hot = rooms.reduce((n, r) => n + (isHot(r) ? 1 : 0), 0)
  renderNodes(t)

  setText($('system-summary'), `— ${plural(rooms.length, 'room')}, ${plural(users.count, 'user')}, ${plural(t?.connections ?? 0, 'connection')}`)
  const rs = $('rooms-summary')
  const rsText = `— ${plural(rooms.length, 'active room')}${hot ? `, ${hot} needing attention` : ''}`
  if (rs.textContent !== rsText) {
    rs.replaceChildren(`— ${plural(rooms.length, 'active room')}`)
    if (hot) rs.append(', ', el('span', { class: 'hot', text: `${hot} needing attention` }))
  }
  renderRooms()
  renderUsers(users)
  renderShards(shards, t?.connections ?? 0)
  renderRoomNames(rooms)
  setText($('tree-updated'), `Updated ${clock.format(new Date())}`)
}

let lastNodes = ''
/**
 * renderNodes lists the live nodes of the cluster, this one marked (a
 * single node lists itself). This node is listed even while it does not
 * hold its lease, when the lease table leaves it out.
 */
function renderNodes(t) {
  const self = typeof t?.node === 'string' ? t.node : ''
  const live = Array.isArray(t?.nodes) ? t.nodes : []
  const nodes = live.map((n) => ({ id: String(n?.id ?? ''), self: n?.self === true, live: true }))
  const leaseless = self !== '' && !nodes.some((n) => n.self)
  if (leaseless) nodes.push({ id: self, self: true, live: false })
  setText($('nodes-summary'), nodesSummary(t, self, live.length, leaseless))
  const key = JSON.stringify(nodes)
  if (key === lastNodes) return
  lastNodes = key
  $('nodes').replaceChildren(...nodes.map(nodeItem))
}

function nodesSummary(t, self, live, leaseless) {
  if (!self && live === 0) return 'This server does not report its nodes.'
  if (!t?.cluster) return `A single node, ${self}: it owns every room.`
  const lease = leaseless ? ', which does not hold its lease: it refuses sends until it renews it' : ''
  return `A cluster of ${plural(live, 'live node')}; this is ${self}${lease}.`
}

/** nodeItem is a node's entry in the nodes list. */
function nodeItem(n) {
  const li = el('li', { 'data-node': n.id, 'data-self': n.self ? 'true' : undefined, 'aria-current': n.self ? 'true' : undefined }, n.id)
  if (n.self) li.append(' ', el('span', { class: 'self', text: n.live ? '(this node)' : '(this node, no lease)' }))
  if (!n.live) li.dataset.live = 'false'
  return li
}

/** roleText is a room's node badge: the owner, or the owner this node relays to. */
function roleText(r) {
  const owner = typeof r.owner === 'string' ? r.owner : ''
  if (!owner) return ''
  return r.relay ? `relay → ${owner}` : `owner ${owner}`
}

function compareRooms(key, dir) {
  return (a, b) => {
    let x = a[key]
    let y = b[key]
    if (typeof x === 'boolean') {
      x = +x
      y = +y
    }
    if (x < y) return -dir
    if (x > y) return dir
    return a.room < b.room ? -1 : a.room > b.room ? 1 : 0
  }
}

function renderRooms() {
  const { rooms, sort, dir, onlyHot } = roomsView
  const f = roomsView.filter.toLowerCase()
  const matching = rooms.filter((r) => (!f || r.room.toLowerCase().includes(f)) && (!onlyHot || isHot(r)))
  matching.sort(compareRooms(sort, dir))
  const shown = matching.slice(0, MAX_ROWS)
  const seen = new Set()
  const rows = shown.map((r) => {
    seen.add(r.room)
    return roomRow(r)
  })
  $('rooms-body').replaceChildren(...rows)
  for (const name of roomsView.rows.keys()) {
    if (!seen.has(name)) roomsView.rows.delete(name)
  }
  let note
  if (rooms.length === 0) note = 'No active rooms.'
  else if (matching.length === 0) note = `No room matches (${plural(rooms.length, 'active room')}).`
  else if (shown.length < matching.length) note = `Showing ${shown.length} of ${matching.length} rooms; filter to narrow down.`
  else note = `Showing ${shown.length} of ${matching.length} rooms.`
  setText($('rooms-note'), note)
}

/** roomRow returns the room's table row, reusing and updating the one built before. */
function roomRow(r) {
  let row = roomsView.rows.get(r.room)
  if (!row) {
    const tr = el('tr', { 'data-room': r.room })
    const cells = {}
    for (const col of ROOM_COLUMNS) {
      const cell = col === 'room'
        ? el('th', { scope: 'row', class: 'room', 'data-col': col })
        : el('td', { class: ['members', 'connections', 'offset', 'mailbox', 'restarts'].includes(col) ? `num ${col}` : col, 'data-col': col })
      cells[col] = cell
      tr.append(cell)
    }
    const name = el('span', { class: 'name', text: r.room })
    const role = el('span', { class: 'badge role' })
    const flag = el('span', { class: 'flag' })
    cells.room.append(name, role, flag)
    row = { tr, cells, role, flag }
    roomsView.rows.set(r.room, row)
  }
  const { tr, cells, role, flag } = row
  const roleLabel = roleText(r)
  setText(role, roleLabel)
  role.hidden = roleLabel === ''
  role.dataset.relay = String(r.relay === true)
  for (const col of ROOM_COLUMNS) {
    if (col === 'room') continue
    const v = r[col]
    setText(cells[col], col === 'private' ? (v ? 'yes' : 'no') : String(v ?? ''))
  }
  const hot = isHot(r)
  tr.classList.toggle('hot', hot)
  setText(flag, hot ? hotReason(r) : '')
  return tr
}

for (const th of document.querySelectorAll('#rooms-table th[data-key]')) {
  th.querySelector('button').addEventListener('click', () => {
    const key = th.dataset.key
    if (roomsView.sort === key) roomsView.dir = -roomsView.dir
    else {
      roomsView.sort = key
      // Names sort A→Z first; numbers largest first.
      roomsView.dir = ['room', 'epoch'].includes(key) ? 1 : -1
    }
    for (const other of document.querySelectorAll('#rooms-table th[data-key]')) {
      if (other === th) other.setAttribute('aria-sort', roomsView.dir > 0 ? 'ascending' : 'descending')
      else other.removeAttribute('aria-sort')
    }
    renderRooms()
  })
}

$('room-filter').addEventListener('input', (ev) => {
  roomsView.filter = ev.target.value.trim()
  renderRooms()
})
$('only-hot').addEventListener('change', (ev) => {
  roomsView.onlyHot = ev.target.checked
  renderRooms()
})

let lastUserIDs = ''
function renderUsers(users) {
  const ids = Array.isArray(users.ids) ? users.ids : []
  setText($('users-summary'), `— ${plural(users.count ?? ids.length, 'live user actor')}`)
  setText($('users-note'), users.count > ids.length ? `Showing the first ${ids.length} of ${users.count} user ids.` : '')
  const key = ids.join('\n')
  if (key === lastUserIDs) return
  lastUserIDs = key
  $('user-ids').replaceChildren(...ids.map((id) => el('li', { text: id })))
}

let shardRows = []
function renderShards(shards, total) {
  setText($('shards-summary'), `— ${plural(shards.length, 'shard')}, ${plural(total, 'connection')}`)
  const list = $('shards')
  if (shardRows.length !== shards.length) {
    shardRows = shards.map(() => {
      const label = el('span')
      const fill = el('span')
      const bar = el('span', { class: 'shard-bar', 'aria-hidden': 'true' }, fill)
      const count = el('span', { class: 'num' })
      return { li: el('li', {}, label, bar, count), label, fill, count }
    })
    list.replaceChildren(...shardRows.map((s) => s.li))
  }
  const most = Math.max(1, ...shards.map((s) => s.connections))
  shards.forEach((s, i) => {
    const row = shardRows[i]
    setText(row.label, `shard ${s.shard}`)
    setText(row.count, String(s.connections))
    row.li.dataset.shard = String(s.shard)
    // The CSSOM, not a style attribute: the CSP allows no inline styles.
    row.fill.style.width = `${(100 * s.connections) / most}%`
  })
}

let lastRoomNames = ''
function renderRoomNames(rooms) {
  const names = rooms.map((r) => r.room).sort().slice(0, MAX_DATALIST)
  const key = names.join('\n')
  if (key === lastRoomNames) return
  lastRoomNames = key
  $('room-names').replaceChildren(...names.map((n) => el('option', { value: n })))
}

// ---------------------------------------------------------------------------
// Metrics: parse the Prometheus text format, derive rates, draw charts

/** parseMetrics parses the Prometheus text format into name → [{labels, value}]. */
function parseMetrics(text) {
  const out = new Map()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/.exec(line)
    if (!m) continue
    const labels = {}
    if (m[2]) {
      for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
      }
    }
    let series = out.get(m[1])
    if (!series) out.set(m[1], (series = []))
    series.push({ labels, value: parseValue(m[3]) })
  }
  return out
}

function parseValue(s) {
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  return Number(s)
}

/** sum adds every series of a metric (all label sets); a missing metric is 0. */
function sum(metrics, name) {
  return (metrics.get(name) ?? []).reduce((n, s) => n + (Number.isFinite(s.value) ? s.value : 0), 0)
}

/** buckets returns a histogram's cumulative buckets as [le, count] sorted by le. */
function buckets(metrics, name) {
  return (metrics.get(`${name}_bucket`) ?? [])
    .map((s) => [parseValue(s.labels.le), s.value])
    .filter(([le]) => !Number.isNaN(le))
    .sort((a, b) => a[0] - b[0])
}

async function fetchMetrics(signal) {
  const r = await fetch('/metrics', {
    signal, cache: 'no-store', credentials: 'omit', headers: { Accept: 'text/plain; version=0.0.4' },
  })
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`)
  const m = parseMetrics(await r.text())
  return {
    t: Date.now(),
    deliveries: sum(m, 'troupe_deliveries_total'),
    connections: sum(m, 'troupe_connections_active'),
    restarts: sum(m, 'troupe_actor_restarts_total'),
    stored: sum(m, 'troupe_messages_stored_total'),
    latency: buckets(m, 'troupe_publish_deliver_latency_seconds'),
  }
}

/** delta is how much a counter grew; after a reset (server restart) its new value. */
function delta(prev, cur) {
  return cur >= prev ? cur - prev : cur
}

/**
 * quantile estimates the q-quantile of the observations made between two
 * samples of a cumulative histogram, interpolating linearly inside the
 * bucket like Prometheus' histogram_quantile. null when nothing was observed.
 */
function quantile(q, prev, cur) {
  if (cur.length === 0) return null
  const samePrev = prev.length === cur.length && prev.every(([le], i) => le === cur[i][0])
  let d = cur.map(([le, c], i) => [le, samePrev ? c - prev[i][1] : c])
  if (d.some(([, c]) => c < 0)) d = cur // the server restarted
  const total = d[d.length - 1][1]
  if (!(total > 0)) return null
  const rank = q * total
  let lo = 0
  let below = 0
  for (const [le, c] of d) {
    if (c >= rank) {
      if (le === Infinity) return lo // beyond the last finite bound: report that bound
      if (c === below) return le
      return lo + ((le - lo) * (rank - below)) / (c - below)
    }
    lo = le
    below = c
  }
  return lo
}

/** CHARTS are the charts shown; value derives a point from two consecutive samples. */
const CHARTS = [
  {
    id: 'deliveries', title: 'Deliveries', unit: '/s', axis: 'messages/s',
    describe: 'Message deliveries to member outboxes per second',
    value: (p, c, dt) => delta(p.deliveries, c.deliveries) / dt,
  },
  {
    id: 'connections', title: 'Active connections', unit: '', axis: 'connections',
    describe: 'Open WebSocket connections',
    value: (p, c) => c.connections,
  },
  {
    id: 'latency', title: 'Publish → deliver p99', unit: ' ms', axis: 'ms',
    describe: '99th percentile of the time from receiving a send to enqueueing it for members, in milliseconds',
    value: (p, c) => {
      const s = quantile(0.99, p.latency, c.latency)
      return s === null ? null : s * 1000
    },
  },
  {
    id: 'restarts', title: 'Actor restarts', unit: '/s', axis: 'restarts/s',
    describe: 'Actor restarts by their supervisors per second, all kinds and reasons',
    value: (p, c, dt) => delta(p.restarts, c.restarts) / dt,
  },
  {
    id: 'stored', title: 'Messages stored', unit: '/s', axis: 'messages/s',
    describe: 'Messages written to the store per second',
    value: (p, c, dt) => delta(p.stored, c.stored) / dt,
  },
]

// Chart geometry, in SVG user units (the SVG scales to its box).
const W = 420
const H = 170
const M = { left: 56, right: 10, top: 10, bottom: 26 }
const PW = W - M.left - M.right
const PH = H - M.top - M.bottom

let lastSample = null
const charts = new Map() // id → { def, points: [{t, v}], nodes }

function resetCharts() {
  lastSample = null
  const grid = $('chart-grid')
  grid.replaceChildren()
  charts.clear()
  for (const def of CHARTS) {
    const titleId = `chart-${def.id}-title`
    const descId = `chart-${def.id}-desc`
    const now = el('span', { class: 'now', id: `chart-${def.id}-now` }, 'collecting…')
    const title = svg('title', { id: descId }, `${def.describe}: collecting the first samples.`)
    const root = svg('svg', {
      viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, preserveAspectRatio: 'xMidYMid meet',
    })
    root.append(title)
    const plot = svg('g', {})
    root.append(plot)
    const fig = el('figure', { class: 'chart', id: `chart-${def.id}`, 'data-points': '0' },
      el('figcaption', {}, el('span', { class: 'title', id: titleId, text: def.title }), now),
      root)
    grid.append(fig)
    charts.set(def.id, { def, points: [], nodes: { fig, now, title, plot } })
    drawChart(charts.get(def.id), Date.now())
  }
}

function addSample(s) {
  const prev = lastSample
  lastSample = s
  setText($('charts-updated'), `Sampled ${clock.format(new Date(s.t))}, every 2 s`)
  if (!prev) return
  const dt = (s.t - prev.t) / 1000
  if (!(dt > 0)) return
  for (const chart of charts.values()) {
    const v = chart.def.value(prev, s, dt)
    chart.points.push({ t: s.t, v: v === null || Number.isFinite(v) ? v : null })
    while (chart.points.length && chart.points[0].t < s.t - WINDOW_MS) chart.points.shift()
    drawChart(chart, s.t)
  }
}

/** niceCeil rounds up to 1, 2, 2.5 or 5 times a power of ten. */
function niceCeil(v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

function drawChart(chart, now) {
  const { def, points, nodes } = chart
  const values = points.map((p) => p.v).filter((v) => v !== null)
  const peak = values.length ? Math.max(...values) : null
  const last = points.length ? points[points.length - 1].v : null
  const top = niceCeil(peak ?? 0)
  const x = (t) => M.left + PW * (1 - (now - t) / WINDOW_MS)
  const y = (v) => M.top + PH * (1 - v / top)

  const g = svg('g', {})
  // Y axis: gridlines and labels at 0, half and top, with the unit.
  const yAxis = svg('g', { class: 'axis', 'aria-hidden': 'true' })
  for (const v of [0, top / 2, top]) {
    yAxis.append(svg('line', { class: 'gridline', x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }))
    yAxis.append(svg('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)))
  }
  const yc = M.top + PH / 2
  yAxis.append(svg('text', { x: 12, y: yc, 'text-anchor': 'middle', transform: `rotate(-90 12 ${yc})` }, def.axis))
  // X axis: minutes ago.
  const xAxis = svg('g', { class: 'axis', 'aria-hidden': 'true' })
  xAxis.append(svg('line', { x1: M.left, x2: W - M.right, y1: M.top + PH, y2: M.top + PH }))
  for (let m = 5; m >= 0; m--) {
    const tx = x(now - m * 60000)
    xAxis.append(svg('line', { x1: tx, x2: tx, y1: M.top + PH, y2: M.top + PH + 4 }))
    xAxis.append(svg('text', { x: tx, y: H - 6, 'text-anchor': m === 0 ? 'end' : m === 5 ? 'start' : 'middle' }, m === 0 ? 'now' : `−${m} min`))
  }
  g.append(yAxis, xAxis)

  // The series: one path per run of known values (unknown values leave gaps).
  let line = ''
  let area = ''
  let run = []
  const flush = () => {
    if (run.length === 0) return
    const pts = run.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    line += `M${pts.join('L')}`
    area += `M${x(run[0].t).toFixed(1)},${y(0)}L${pts.join('L')}L${x(run[run.length - 1].t).toFixed(1)},${y(0)}Z`
    run = []
  }
  for (const p of points) {
    if (p.v === null) flush()
    else run.push(p)
  }
  flush()
  if (area) g.append(svg('path', { class: 'area', d: area }))
  if (line) g.append(svg('path', { class: 'series', d: line }))
  // A value between two unknowns has no line to be part of: draw it as a dot.
  points.forEach((p, i) => {
    if (p.v !== null && points[i - 1]?.v == null && points[i + 1]?.v == null) {
      g.append(svg('circle', { class: 'dot', cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5 }))
    }
  })
  if (points.length === 0) {
    g.append(svg('text', { class: 'empty', x: M.left + PW / 2, y: M.top + PH / 2, 'text-anchor': 'middle' }, 'collecting samples…'))
  }
  nodes.plot.replaceWith(g)
  nodes.plot = g

  // The text alternative: the current value and the peak, as text.
  const nowText = last === null ? '—' : fmt(last)
  if (points.length) {
    nodes.now.replaceChildren('now ', el('strong', { text: nowText }), `${last === null ? '' : def.unit} · peak ${fmt(peak)}${peak === null ? '' : def.unit}`)
  }
  setText(nodes.title, points.length
    ? `${def.describe}, last 5 minutes: now ${nowText}${last === null ? '' : def.unit}, peak ${fmt(peak)}${peak === null ? '' : def.unit}.`
    : `${def.describe}: collecting the first samples.`)
  nodes.fig.dataset.points = String(points.length)
  nodes.fig.dataset.now = last === null ? '' : String(last)
  nodes.fig.dataset.peak = peak === null ? '' : String(peak)
}

// ---------------------------------------------------------------------------
// Drills

/** specOf reads a drill form into the JSON body of POST /api/drills. */
function specOf(form) {
  const kind = form.dataset.kind
  const num = (name) => Number(form.elements[name].value)
  switch (kind) {
    case 'room-crash':
      return { kind, room: form.elements.room.value.trim(), count: num('count'), interval_ms: num('interval_ms') }
    case 'conn-kill':
      return { kind, fraction: num('fraction') }
    case 'user-crash':
      return { kind, count: num('count') }
    case 'store-stall':
      return { kind, duration_ms: num('duration_ms'), mode: form.elements.mode.value }
    default:
      throw new Error(`unknown drill kind ${kind}`)
  }
}

function describeSpec(s) {
  switch (s.kind) {
    case 'room-crash':
      return `Crash room “${s.room}” ${plural(s.count, 'time')}${s.count > 1 ? `, ${s.interval_ms} ms apart` : ''}.`
    case 'conn-kill':
      return `Kill ${fmt(s.fraction * 100)}% of the welcomed connections (at least one); their sockets close with 1011.`
    case 'user-crash':
      return `Crash ${plural(s.count, 'live user actor')}.`
    case 'store-stall':
      return `Make every store call ${s.mode === 'fail' ? 'fail' : 'block'} for ${fmt(s.duration_ms)} ms.`
    default:
      return s.kind
  }
}

/** confirmDrill asks in a modal dialog; it resolves true only for "Run drill". */
function confirmDrill(text) {
  const dialog = $('confirm')
  setText($('confirm-text'), text)
  return new Promise((resolve) => {
    const done = (ok) => {
      dialog.removeEventListener('close', onClose)
      $('confirm-run').removeEventListener('click', onRun)
      $('confirm-cancel').removeEventListener('click', onCancel)
      resolve(ok)
    }
    const onClose = () => done(dialog.returnValue === 'run')
    const onRun = () => dialog.close('run')
    const onCancel = () => dialog.close('cancel')
    dialog.addEventListener('close', onClose)
    $('confirm-run').addEventListener('click', onRun)
    $('confirm-cancel').addEventListener('click', onCancel)
    dialog.returnValue = ''
    dialog.showModal()
    $('confirm-cancel').focus() // the safe choice has the focus
  })
}

function drillStatus(text, error = false) {
  const node = $('drill-status')
  node.classList.toggle('error', error)
  setText(node, text)
}

for (const form of document.querySelectorAll('form.drill')) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const err = form.querySelector('.field-error')
    const invalid = [...form.elements].find((e) => e.willValidate && !e.checkValidity())
    for (const e of form.elements) {
      if (!e.willValidate) continue
      if (e.checkValidity()) e.removeAttribute('aria-invalid')
      else e.setAttribute('aria-invalid', 'true')
    }
    if (invalid) {
      const label = form.querySelector(`label[for="${invalid.id}"]`)?.textContent ?? invalid.name
      setText(err, `${label}: ${invalid.validationMessage}`)
      invalid.focus()
      return
    }
    setText(err, '')
    const spec = specOf(form)
    const button = form.querySelector('button[type="submit"]')
    if (!(await confirmDrill(describeSpec(spec)))) {
      button.focus()
      return
    }
    button.disabled = true
    try {
      await runDrill(spec)
    } finally {
      button.disabled = false
    }
  })
}

async function runDrill(spec) {
  const signal = session?.signal
  drillStatus(`Starting ${spec.kind}…`)
  let rep
  try {
    rep = await api('/api/drills', { method: 'POST', body: spec, signal })
  } catch (err) {
    if (signal?.aborted) return
    if (err instanceof Unauthorized) {
      sessionEnded(err)
      return
    }
    drillStatus(`The ${spec.kind} drill did not start: ${err.message}`, true)
    return
  }
  const item = el('li', { class: 'report' })
  const list = $('drill-reports')
  list.prepend(item)
  while (list.children.length > MAX_REPORTS) list.lastElementChild.remove()
  renderReport(item, rep)
  drillStatus(`Drill ${rep.id} (${rep.spec?.kind ?? spec.kind}) is running…`)
  let failures = 0
  while (rep.state === 'running') {
    try {
      rep = await api(`/api/drills/${encodeURIComponent(rep.id)}?wait=30s`, { signal })
      failures = 0
      renderReport(item, rep)
    } catch (err) {
      if (signal?.aborted) return
      if (err instanceof Unauthorized) {
        sessionEnded(err)
        return
      }
      if (++failures >= 5) {
        drillStatus(`Lost track of drill ${rep.id}: ${err.message}`, true)
        return
      }
      await new Promise((res) => setTimeout(res, POLL_MS))
    }
  }
  drillStatus(summarizeReport(rep), rep.state !== 'done' || rep.unrecovered > 0)
}

function ms(v) {
  return `${fmt(v)} ms`
}

function errorsText(errors) {
  const entries = Object.entries(errors ?? {}).filter(([, n]) => n > 0)
  return entries.length ? entries.map(([code, n]) => `${code} ${n}`).join(', ') : 'none'
}

function summarizeReport(r) {
  const rec = r.recovery_ms ?? {}
  return `Drill ${r.id} (${r.spec?.kind}) ${r.state}: injected ${r.injected}, recovered ${r.recovered}, ` +
    `unrecovered ${r.unrecovered}, restarts ${r.restarts}; recovery p50 ${ms(rec.p50)}, p99 ${ms(rec.p99)}, ` +
    `max ${ms(rec.max)}; errors ${errorsText(r.errors)}.${r.error ? ` Error: ${r.error}` : ''}`
}

function renderReport(item, r) {
  const rec = r.recovery_ms ?? {}
  item.dataset.id = r.id
  item.dataset.state = r.state
  item.dataset.unrecovered = String(r.unrecovered > 0)
  const badge = r.state === 'running' ? 'run' : r.state === 'done' && !(r.unrecovered > 0) ? 'ok' : 'bad'
  const started = r.started ? new Date(r.started) : null
  const tookMS = r.ended && started ? new Date(r.ended) - started : null
  const took = tookMS === null ? '' : `, took ${tookMS < 1000 ? ms(tookMS) : `${fmt(tookMS / 1000)} s`}`
  const field = (name, label, value) => el('div', {}, el('dt', { text: label }), el('dd', { 'data-field': name, text: String(value) }))
  item.replaceChildren(
    el('h4', {}, `${r.spec?.kind ?? 'drill'} · ${r.id} `, el('span', { class: `badge ${badge}`, 'data-field': 'state', text: r.state })),
    el('p', { class: 'muted', text: `Targets: ${(r.targets ?? []).join(', ') || '—'}${started ? ` · started ${clock.format(started)}` : ''}${took}` }),
    el('dl', {},
      field('injected', 'Injected', r.injected),
      field('recovered', 'Recovered', r.recovered),
      field('unrecovered', 'Unrecovered', r.unrecovered),
      field('restarts', 'Restarts', r.restarts),
      field('rooms_stopped', 'Rooms stopped', r.rooms_stopped ?? 0),
      field('p50', 'Recovery p50', ms(rec.p50)),
      field('p99', 'Recovery p99', ms(rec.p99)),
      field('max', 'Recovery max', ms(rec.max)),
      field('errors', 'Errors sent', errorsText(r.errors))),
  )
  if (r.error) item.append(el('p', { class: 'field-error', text: r.error }))
}

// ---------------------------------------------------------------------------
// Start

if (apiKey) {
  $('login').hidden = true
  startDashboard(null)
} else {
  showLogin()
}
