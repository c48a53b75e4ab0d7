// @troupe/client: the JavaScript client of the troupe chat server (wire
// protocol troupe.v1, ../../PROTOCOL.md). No dependencies; browsers and Node 20+
// (with --experimental-websocket, or options.WebSocket).

export { TroupeClient } from './client.js'
export {
  TroupeError,
  ServerError,
  CloseError,
  TimeoutError,
  DisconnectedError,
  ClientClosedError,
  FrameTooLargeError,
  ErrorCodes,
  CloseCodes,
  closeCode,
} from './errors.js'
export { backoffDelay, backoffCeiling, DEFAULT_RECONNECT, DEFAULT_RETRY } from './backoff.js'
export { SUBPROTOCOL } from './options.js'
export { EVENT_TYPES } from './events.js'
