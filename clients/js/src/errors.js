// Errors of the client and the protocol's error and close codes
// (../../PROTOCOL.md "Errors" and "Close codes"), with the rules that classify them:
// which requests are retried, and which closes are reconnected after.

/** Error codes of the server's error frames. */
export const ErrorCodes = Object.freeze({
  BAD_JSON: 'bad_json',
  BAD_FRAME: 'bad_frame',
  UNKNOWN_TYPE: 'unknown_type',
  INVALID: 'invalid',
  UNAUTHORIZED: 'unauthorized',
  WRONG_PASSWORD: 'wrong_password',
  ROOM_FULL: 'room_full',
  NOT_JOINED: 'not_joined',
  NO_SUCH_ROOM: 'no_such_room',
  NO_SUCH_USER: 'no_such_user',
  RATE_LIMITED: 'rate_limited',
  LIMIT_EXCEEDED: 'limit_exceeded',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal',
  PRESENCE_DISABLED: 'presence_disabled',
})

/** WebSocket close codes the server uses (1006: the connection dropped without a close frame). */
export const CloseCodes = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  INVALID_UTF8: 1007,
  POLICY: 1008,
  TOO_LARGE: 1009,
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013,
  IDLE: 4000,
  SLOW_CONSUMER: 4001,
  KICKED: 4002,
  TOKEN_EXPIRED: 4003,
  TAKEN_OVER: 4004,
})

/** Base class of every error the client raises. */
export class TroupeError extends Error {
  constructor(message, options) {
    super(message, options)
    this.name = new.target.name
  }
}

/** An error frame the server answered a request with. `message` is the server's text. */
export class ServerError extends TroupeError {
  constructor(code, message) {
    super(message || code)
    /** One of ErrorCodes. */
    this.code = code
  }
}

/** A connection ended by a close frame (or by a drop: code 1006). */
export class CloseError extends TroupeError {
  constructor(code, reason = '') {
    super(`connection closed with ${code}${reason ? ` (${reason})` : ''}`)
    this.code = code
    this.reason = reason
  }
}

/** No reply within requestTimeoutMs. */
export class TimeoutError extends TroupeError {
  constructor(message, timeoutMs) {
    super(message)
    this.timeoutMs = timeoutMs
  }
}

/** The connection ended before the reply came; `cause` says why. */
export class DisconnectedError extends TroupeError {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause })
  }
}

/**
 * The client is closed: by close() (no cause), or by a close it does not
 * reconnect after (`cause` is that close, usually a CloseError).
 */
export class ClientClosedError extends TroupeError {
  constructor(cause) {
    super(cause ? `client closed: ${cause.message}` : 'client closed', cause ? { cause } : undefined)
  }
}

/** A frame larger than the server's frame limit; it was not sent. */
export class FrameTooLargeError extends TroupeError {
  constructor(bytes, limit) {
    super(`frame of ${bytes} bytes exceeds the server's limit of ${limit}`)
    this.bytes = bytes
    this.limit = limit
  }
}

/**
 * closeCode returns the close code behind err: a CloseError's code (looking
 * through `cause`), 1006 for any other error, 0 for none.
 */
export function closeCode(err) {
  if (err == null) return 0
  for (let e = err; e != null; e = e.cause) {
    if (e instanceof CloseError) return e.code
  }
  return CloseCodes.ABNORMAL
}

/** retryableCode: the server dropped or could not handle the request, and said so. */
export function retryableCode(code) {
  return code === ErrorCodes.UNAVAILABLE || code === ErrorCodes.RATE_LIMITED
}

/**
 * decideClose classifies why a connection ended: 'reconnect' for network
 * errors and passing trouble (1001, 1006, 1011, 1013, 4000, 4001, …);
 * 'reconnect-if-new' for policy, kick and expiry (1008, 4002, 4003), which
 * need credentials newer than the connection's; 'stop' for a normal close by
 * the server and a session takeover (1000, 4004).
 */
export function decideClose(cause) {
  let closed = null
  for (let e = cause; e != null; e = e.cause) {
    if (e instanceof CloseError) {
      closed = e
      break
    }
  }
  if (!closed) return 'reconnect'
  switch (closed.code) {
    case CloseCodes.POLICY:
    case CloseCodes.KICKED:
    case CloseCodes.TOKEN_EXPIRED:
      return 'reconnect-if-new'
    case CloseCodes.NORMAL:
    case CloseCodes.TAKEN_OVER:
      return 'stop'
    default:
      return 'reconnect'
  }
}
