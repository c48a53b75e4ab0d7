// Types of @troupe/client, the JavaScript client of the troupe chat server
// (wire protocol troupe.v1). Field names are the protocol's in camelCase
// (msg_id → msgId, reply_to → replyTo, server_time → serverTime).

/** A user as the server names it. */
export interface User {
  id: string
  name: string
}

/** A user in a room; `conns` (presence replies only) counts that user's connections in the room. */
export interface Member extends User {
  conns?: number
  /** Presence replies: the presence states the user's connections set, by connection (absent when none). */
  states?: Record<string, PresenceState>
}

/** A connection's presence state in a room: a small JSON object. */
export type PresenceState = { [key: string]: unknown }

/** One connection's presence state; state null once cleared or the connection left. */
export interface ConnState {
  user: User
  /** The connection, as its client's connId names it. */
  conn: string
  state: PresenceState | null
}

/** A point in a room's stream: the last offset seen in an epoch. */
export interface Position {
  epoch: string
  offset: number
}

/** A stored message of a room. */
export interface RoomMessage {
  room: string
  /** The server's message id, e.g. "m_…". */
  id: string
  offset: number
  /** Unix milliseconds. */
  ts: number
  from: User
  /** "text" when the sender gave none; "image", "file" or an application kind. */
  kind: string
  text: string
  /** Any JSON value; null when the message has none. */
  data: unknown
  /** Id of the message this one answers, or null. */
  replyTo: string | null
}

/** A backoff: before attempt n the client waits a random delay in [0, min(maxMs, minMs·2ⁿ)]. */
export interface Backoff {
  minMs: number
  maxMs: number
}

/** A WebSocket constructor: the platform's (browsers, Node 20+ with --experimental-websocket) or a compatible one. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket

export interface TroupeClientOptions {
  /** Server base URL: http(s):// or ws(s)://host[:port][/base] (relative to the page in a browser). The client connects to <base>/ws with subprotocol troupe.v1. */
  url: string | URL
  /** JWT sent in hello; absent connects anonymously. */
  token?: string
  /** Display name sent in hello (a token's name wins). */
  name?: string
  /** Session id to resume on the first connection; later connections name the session the server last gave. */
  session?: string
  /** Bound of each request's wait for its reply, of the handshake and of the hello. Default 10000. */
  requestTimeoutMs?: number
  /** Backoff between reconnect attempts. Default { minMs: 500, maxMs: 20000 }. */
  reconnect?: Partial<Backoff>
  /** Backoff between retries after unavailable or rate_limited. Default { minMs: 50, maxMs: 1000 }. */
  retry?: Partial<Backoff>
  /** History a rejoin asks for when recovery is impossible (0: the server's default). */
  rejoinHistory?: number
  /** WebSocket constructor; default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed'

export interface Welcome {
  session: string
  user: User
  /** The server kept the earlier session. */
  resumed: boolean
}

export interface JoinOptions {
  /** Recover the messages after this position into Joined.messages. */
  since?: Position
  /** Recent messages to return (server default 50, at most 200). */
  history?: number
  /** Password of a protected room; kept to rejoin after reconnects. */
  password?: string
  /** Stops waiting and retrying. */
  signal?: AbortSignal
}

export interface Joined {
  room: string
  epoch: string
  /** The room's last offset; `message` events follow it. */
  offset: number
  /** With since: messages are exactly the missed ones. */
  recovered: boolean
  members: Member[]
  /** Recent history or recovered messages, oldest first; not delivered as events. */
  messages: RoomMessage[]
  /** The presence states of the room's connections when it was joined. */
  states: ConnState[]
}

export interface OutgoingMessage {
  text?: string
  data?: unknown
  /** "text" when absent. */
  kind?: string
  replyTo?: string
  /** Idempotency key (1–64 bytes); default a fresh random one. Reuse it only to resend the same message. */
  cid?: string
  /** Stops retrying; the send then rejects with the signal's reason (the message may have been stored). */
  signal?: AbortSignal
}

/** The server's confirmation that a message is stored. */
export interface Ack {
  room: string
  msgId: string
  offset: number
  /** Unix milliseconds; equals the message's ts. */
  ts: number
  /** An earlier attempt with the same cid was stored. */
  dup: boolean
  cid: string
  /** How many times the message was sent before the ack (1 unless retried). */
  attempts: number
}

/** Options of docUpdate. */
export interface DocUpdateOptions {
  /** Idempotency key (1–64 bytes); default a fresh random one. */
  cid?: string
  /** Stops retrying; the update may have been stored. */
  signal?: AbortSignal
}

/** One update of a room's document (a stream message of kind "doc"). */
export interface DocUpdate {
  room: string
  /** The server's message id, e.g. "m_…". */
  id: string
  offset: number
  /** Unix milliseconds. */
  ts: number
  from: User
  /** The CRDT update, as the sender gave it. */
  data: Uint8Array
}

/** A snapshot of a room's document: it covers every update with offset ≤ offset. */
export interface DocSnapshot {
  offset: number
  /** Unix milliseconds. */
  ts: number
  data: Uint8Array
}

export interface DocSyncOptions {
  /** The offset the caller has already (default 0: the whole document). */
  after?: number
  /** Updates per page (server default 1000, at most 5000). */
  limit?: number
  signal?: AbortSignal
}

/** A room's document from `after` on: apply snapshot (if any), then updates. */
export interface DocSyncResult {
  room: string
  /** The latest snapshot past `after`, or null. */
  snapshot: DocSnapshot | null
  /** The updates after the snapshot (or after `after`), ascending offsets. */
  updates: DocUpdate[]
  /** The offset now reached: read on from here. */
  offset: number
  /** Updates past `after` were trimmed, so the document was read from 0. */
  gap: boolean
}

/** The server's answer to docSnapshot. */
export interface DocSnapshotResult {
  room: string
  /** The snapshot offset the room now holds. */
  offset: number
  /** False when it held one at this offset or later already. */
  stored: boolean
}

export interface HistoryQuery {
  /** Page backwards from this offset (exclusive); 0 or absent: from the end. */
  before?: number
  /** Page forwards from this offset (exclusive); wins over before. */
  after?: number
  /** Server default 50; at most 200. */
  limit?: number
}

export interface HistoryPage {
  room: string
  /** Ascending offsets. */
  messages: RoomMessage[]
  /** More messages exist beyond this page in its direction. */
  more: boolean
}

export interface RoomInfo {
  room: string
  /** Distinct users. */
  members: number
  private: boolean
}

export interface Pong {
  rttMs: number
  /** Unix milliseconds. */
  serverTime: number
}

// Events: type → detail.

export interface MessageEventDetail extends RoomMessage {
  epoch: string
  /** It came from a rejoin's recovery, not a live push. */
  replayed: boolean
}

/** An update of a room's document, live or replayed by a rejoin; never a `message` event. */
export interface DocEventDetail extends DocUpdate {
  epoch: string
  /** It came from a rejoin's recovery, not a live push. */
  replayed: boolean
}

export interface PresenceEventDetail {
  room: string
  /** Users whose first connection joined. */
  joins: User[]
  /** Users whose last connection left. */
  leaves: User[]
  /** Connections whose presence state changed (absent when none did). */
  states?: ConnState[]
}

/** A signal of another connection in a joined room; under load only the latest of each connection and key arrives. */
export interface SignalEventDetail {
  room: string
  user: User
  conn: string
  key: string
  data: unknown
}

export interface TypingEventDetail {
  room: string
  user: User
  on: boolean
}

export interface DirectEventDetail {
  from: User
  text: string
  data: unknown
  ts: number
}

export interface NotifyEventDetail {
  event: string
  data: unknown
  ts: number
}

export interface SystemEventDetail {
  room: string
  /** e.g. "room_restarted". */
  event: string
  text: string
}

export interface RoomClosedEventDetail {
  room: string
  /** "deleted" or "crashed". */
  reason: string
}

export interface ErrorEventDetail {
  /** An error frame that answers no request, such as not_joined for typing. */
  error: ServerError
}

export interface StateEventDetail {
  state: ClientState
  previous: ClientState
  /** Close code of the failure (1006 for network errors): on 'reconnecting', 'closed' and a failed first connect ('idle'). */
  code?: number
  /** 1 for the first attempt after a drop ('reconnecting' only; one event per attempt). */
  attempt?: number
  /** The wait before this attempt ('reconnecting' only). */
  delayMs?: number
  /** The failure. */
  error?: Error
}

export interface ConnectedEventDetail extends Welcome {
  /** False for the first connection. */
  reconnect: boolean
}

/**
 * A room joined again after a reconnect; replayed `message` events follow.
 * recovered false is a gap: messages between `from` and the replayed ones (or
 * the whole old epoch) are not delivered.
 */
export interface RecoveryEventDetail {
  room: string
  epoch: string
  /** Every missed message is replayed. */
  recovered: boolean
  /** The room's history was lost; offsets start over. */
  epochChanged: boolean
  /** The last offset delivered before the reconnect. */
  from: number
  /** The room's offset when it was joined again. */
  to: number
  /** How many `message` and `doc` events follow. */
  replayed: number
  /** The rejoin's presence states (absent when none): presence changes during the disconnect were missed, so start over from these. */
  states?: ConnState[]
}

/** Every room was rejoined after a reconnect: `rooms` came back (those in `gaps` without full recovery); `failed` did not. */
export interface RecoveredEventDetail {
  rooms: string[]
  gaps: string[]
  failed: string[]
}

/** A room could not be joined again after a reconnect; the client no longer tracks it. */
export interface RejoinFailedEventDetail {
  room: string
  error: Error
}

/** The last event: the client is closed, by close() (code 1000, error null) or by a close it does not reconnect after. */
export interface ClosedEventDetail {
  code: number
  error: Error | null
}

export interface TroupeEventMap {
  message: CustomEvent<MessageEventDetail>
  doc: CustomEvent<DocEventDetail>
  presence: CustomEvent<PresenceEventDetail>
  typing: CustomEvent<TypingEventDetail>
  signal: CustomEvent<SignalEventDetail>
  direct: CustomEvent<DirectEventDetail>
  notify: CustomEvent<NotifyEventDetail>
  system: CustomEvent<SystemEventDetail>
  room_closed: CustomEvent<RoomClosedEventDetail>
  error: CustomEvent<ErrorEventDetail>
  state: CustomEvent<StateEventDetail>
  connected: CustomEvent<ConnectedEventDetail>
  recovery: CustomEvent<RecoveryEventDetail>
  recovered: CustomEvent<RecoveredEventDetail>
  rejoin_failed: CustomEvent<RejoinFailedEventDetail>
  closed: CustomEvent<ClosedEventDetail>
}

export type TroupeEventType = keyof TroupeEventMap

/**
 * A troupe connection that survives drops: it reconnects with full-jitter
 * backoff, resumes its session, rejoins its rooms with since and replays what
 * it missed. Events are CustomEvents, dispatched one at a time in order.
 */
export declare class TroupeClient extends EventTarget {
  constructor(options: TroupeClientOptions)

  readonly state: ClientState
  /** The user the server welcomed; null before the first welcome. */
  readonly user: User | null
  /** The session id the server last gave (at first options.session, or null). */
  readonly session: string | null
  /** The current connection as signals and presence states name it to others; null while not connected. */
  readonly connId: string | null

  /** Opens the first connection: hello → welcome. Rejects when it fails (state back to 'idle'). */
  connect(): Promise<Welcome>
  /** Closes with 1000 and stops reconnecting; idempotent. */
  close(): void

  join(room: string, options?: JoinOptions): Promise<Joined>
  leave(room: string): Promise<void>
  send(room: string, message: OutgoingMessage): Promise<Ack>
  typing(room: string, on?: boolean): Promise<void>
  /** Sends an ephemeral signal (key: ^[A-Za-z0-9_.:-]{1,32}$) to the room's other connections; never stored or acknowledged. */
  signal(room: string, key: string, data?: unknown): Promise<void>
  /** Sets (null: clears) this connection's presence state in a joined room; set again by the client after every rejoin. */
  setPresence(room: string, state: PresenceState | null): Promise<void>
  presence(room: string): Promise<Member[]>
  history(room: string, query?: HistoryQuery): Promise<HistoryPage>
  rooms(): Promise<RoomInfo[]>
  direct(to: string, text?: string, data?: unknown): Promise<{ ts: number }>
  ping(): Promise<Pong>
  /** Refreshes the token now when connected ({exp}, Unix seconds) and uses it in every later hello (null when not connected). */
  setToken(token: string): Promise<{ exp: number | null } | null>
  /** Appends a CRDT update to a joined room's document; retried with its cid until acked, like send. */
  docUpdate(room: string, update: Uint8Array, options?: DocUpdateOptions): Promise<Ack>
  /** Reads a joined room's document from options.after on (the snapshot, then the updates), paging to the end. */
  docSync(room: string, options?: DocSyncOptions): Promise<DocSyncResult>
  /** Uploads a snapshot covering every update with offset ≤ offset. */
  docSnapshot(room: string, offset: number, snapshot: Uint8Array, options?: { signal?: AbortSignal }): Promise<DocSnapshotResult>
  /** Where a joined room's stream is: the last offset delivered; null when not joined. */
  position(room: string): Position | null
  /** Rooms the client tracks and rejoins after reconnects, sorted. */
  joinedRooms(): string[]

  addEventListener<K extends TroupeEventType>(
    type: K,
    listener: (this: TroupeClient, ev: TroupeEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void
  removeEventListener<K extends TroupeEventType>(
    type: K,
    listener: (this: TroupeClient, ev: TroupeEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void
}

/** Base class of every error the client raises. */
export declare class TroupeError extends Error {}

/** An error frame the server answered a request with; `message` is the server's text. */
export declare class ServerError extends TroupeError {
  constructor(code: ErrorCode | string, message: string)
  readonly code: ErrorCode | string
}

/** A connection ended by a close frame, or dropped (code 1006). */
export declare class CloseError extends TroupeError {
  constructor(code: number, reason?: string)
  readonly code: number
  readonly reason: string
}

/** No reply within requestTimeoutMs. */
export declare class TimeoutError extends TroupeError {
  readonly timeoutMs: number
}

/** The connection ended before the reply came, or none came up within requestTimeoutMs; `cause` says why. */
export declare class DisconnectedError extends TroupeError {}

/** The client is closed: by close() (no cause) or by a close it does not reconnect after (`cause`). */
export declare class ClientClosedError extends TroupeError {}

/** A frame larger than the server's frame limit; it was not sent. */
export declare class FrameTooLargeError extends TroupeError {
  readonly bytes: number
  readonly limit: number
}

export type ErrorCode =
  | 'bad_json'
  | 'bad_frame'
  | 'unknown_type'
  | 'invalid'
  | 'unauthorized'
  | 'wrong_password'
  | 'room_full'
  | 'not_joined'
  | 'no_such_room'
  | 'no_such_user'
  | 'rate_limited'
  | 'limit_exceeded'
  | 'unavailable'
  | 'internal'
  | 'presence_disabled'

export declare const ErrorCodes: Readonly<{
  BAD_JSON: 'bad_json'
  BAD_FRAME: 'bad_frame'
  UNKNOWN_TYPE: 'unknown_type'
  INVALID: 'invalid'
  UNAUTHORIZED: 'unauthorized'
  WRONG_PASSWORD: 'wrong_password'
  ROOM_FULL: 'room_full'
  NOT_JOINED: 'not_joined'
  NO_SUCH_ROOM: 'no_such_room'
  NO_SUCH_USER: 'no_such_user'
  RATE_LIMITED: 'rate_limited'
  LIMIT_EXCEEDED: 'limit_exceeded'
  UNAVAILABLE: 'unavailable'
  INTERNAL: 'internal'
  PRESENCE_DISABLED: 'presence_disabled'
}>

export declare const CloseCodes: Readonly<{
  NORMAL: 1000
  GOING_AWAY: 1001
  ABNORMAL: 1006
  INVALID_UTF8: 1007
  POLICY: 1008
  TOO_LARGE: 1009
  INTERNAL: 1011
  TRY_AGAIN_LATER: 1013
  IDLE: 4000
  SLOW_CONSUMER: 4001
  KICKED: 4002
  TOKEN_EXPIRED: 4003
  TAKEN_OVER: 4004
}>

/** The close code behind an error: a CloseError's code (through `cause`), 1006 for other errors, 0 for none. */
export declare function closeCode(err: unknown): number

/** Upper bound of the delay before attempt n (from 0): min(maxMs, minMs·2ⁿ). */
export declare function backoffCeiling(attempt: number, backoff?: Backoff): number
/** A full-jitter delay before attempt n (from 0): a random whole number of ms in [0, backoffCeiling(n)]. random returns [0, 1) (default Math.random). */
export declare function backoffDelay(attempt: number, backoff?: Backoff, random?: () => number): number

export declare const DEFAULT_RECONNECT: Readonly<Backoff>
export declare const DEFAULT_RETRY: Readonly<Backoff>
/** "troupe.v1" */
export declare const SUBPROTOCOL: 'troupe.v1'
export declare const EVENT_TYPES: readonly TroupeEventType[]
