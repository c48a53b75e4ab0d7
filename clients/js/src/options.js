// Options of a TroupeClient: defaults, validation (every problem reported at
// once) and the WebSocket endpoint's URL.

import { DEFAULT_RECONNECT, DEFAULT_RETRY } from './backoff.js'

/** The WebSocket subprotocol the client offers. */
export const SUBPROTOCOL = 'troupe.v1'

/** Default bound of each request's wait for its reply, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10000

/**
 * normalizeOptions fills in defaults and checks every option; it throws one
 * TypeError naming every problem.
 */
export function normalizeOptions(options) {
  const o = options ?? {}
  const problems = []
  let url = null
  if (typeof o.url !== 'string' && !(o.url instanceof URL)) {
    problems.push('url is required: the server base, http(s):// or ws(s)://')
  } else {
    try {
      url = wsUrl(String(o.url))
    } catch (err) {
      problems.push(err.message)
    }
  }
  for (const key of ['token', 'name', 'session']) {
    if (o[key] != null && typeof o[key] !== 'string') problems.push(`${key} must be a string`)
  }
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  if (!(requestTimeoutMs > 0) || !Number.isFinite(requestTimeoutMs)) {
    problems.push(`requestTimeoutMs must be a positive number, got ${o.requestTimeoutMs}`)
  }
  const rejoinHistory = o.rejoinHistory ?? 0
  if (!Number.isInteger(rejoinHistory) || rejoinHistory < 0) {
    problems.push(`rejoinHistory must be a whole number >= 0, got ${o.rejoinHistory}`)
  }
  const reconnect = backoffOption('reconnect', o.reconnect, DEFAULT_RECONNECT, problems)
  const retry = backoffOption('retry', o.retry, DEFAULT_RETRY, problems)
  const WebSocket = o.WebSocket ?? globalThis.WebSocket
  if (typeof WebSocket !== 'function') {
    problems.push('no WebSocket: pass options.WebSocket, or run Node 20 with --experimental-websocket')
  }
  if (problems.length > 0) {
    throw new TypeError(`troupe: options: ${problems.join('; ')}`)
  }
  return Object.freeze({
    url,
    token: o.token ?? '',
    name: o.name ?? '',
    session: o.session ?? '',
    requestTimeoutMs,
    reconnect,
    retry,
    rejoinHistory,
    WebSocket,
  })
}

function backoffOption(what, given, defaults, problems) {
  const b = { minMs: given?.minMs ?? defaults.minMs, maxMs: given?.maxMs ?? defaults.maxMs }
  if (!(b.minMs >= 0) || !(b.maxMs >= b.minMs) || !Number.isFinite(b.maxMs)) {
    problems.push(`${what} needs 0 <= minMs <= maxMs, got ${JSON.stringify(given)}`)
  }
  return Object.freeze(b)
}

/**
 * wsUrl turns the configured base URL (http, https, ws or wss; relative to
 * the page in a browser) into the WebSocket endpoint: <base>/ws unless the
 * path already ends in /ws.
 */
export function wsUrl(base) {
  let u
  try {
    u = new URL(base, globalThis.location?.href)
  } catch {
    throw new TypeError(`url ${JSON.stringify(base)} is not a URL`)
  }
  switch (u.protocol) {
    case 'http:':
    case 'ws:':
      u.protocol = 'ws:'
      break
    case 'https:':
    case 'wss:':
      u.protocol = 'wss:'
      break
    default:
      throw new TypeError(`url ${JSON.stringify(base)}: scheme must be http, https, ws or wss`)
  }
  if (!u.pathname.endsWith('/ws')) {
    u.pathname = u.pathname.replace(/\/+$/, '') + '/ws'
  }
  u.hash = ''
  return u.href
}
