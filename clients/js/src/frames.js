// The troupe.v1 frames this client speaks (../../PROTOCOL.md is the contract), and
// their conversion from the wire's snake_case to the API's camelCase:
//
//   client                                   server
//   hello{id,token,name,session}           → welcome{id,session,user,resumed,heartbeat,limits}
//   join{id,room,password,since,history}   → joined{id,room,epoch,offset,recovered,members,messages}
//   leave{id,room}                         → left{id,room}
//   send{id,room,kind,text,data,reply_to,cid} → ack{id,room,msg_id,offset,ts,dup}
//   typing{room,on}                          (no reply; an error comes without id)
//   signal{room,key,data}                    (no reply; an error comes without id)
//   presence_set{room,state}                 (no reply; an error comes without id)
//   presence{id,room}                      → presence{id,room,members}
//   history{id,room,before|after,limit}    → history{id,room,msgs,more}
//   rooms{id}                              → rooms{id,rooms}
//   direct{id,to,text,data}                → ack{id,ts}
//   ping{id}                               → pong{id,server_time}
//   refresh{id,token}                      → refreshed{id,exp}
//   doc_update{id,room,data,cid}           → ack{id,room,msg_id,offset,ts,dup}
//   doc_sync{id,room,after,limit}          → doc_sync{id,room,snapshot,updates,offset,more,gap}
//   doc_snapshot{id,room,offset,data}      → doc_snapshot{id,room,offset,stored}
//                                          ← message, batch, presence_diff, typing, signal, direct,
//                                            notify, system, room_closed (pushed, no id)
//                                          ← error{id?,code,message}

/** Frame types. */
export const T = Object.freeze({
  HELLO: 'hello',
  WELCOME: 'welcome',
  REFRESH: 'refresh',
  REFRESHED: 'refreshed',
  JOIN: 'join',
  JOINED: 'joined',
  LEAVE: 'leave',
  LEFT: 'left',
  SEND: 'send',
  ACK: 'ack',
  TYPING: 'typing',
  PRESENCE: 'presence',
  HISTORY: 'history',
  ROOMS: 'rooms',
  DIRECT: 'direct',
  PING: 'ping',
  PONG: 'pong',
  ERROR: 'error',
  MESSAGE: 'message',
  BATCH: 'batch',
  PRESENCE_DIFF: 'presence_diff',
  NOTIFY: 'notify',
  SYSTEM: 'system',
  ROOM_CLOSED: 'room_closed',
  SIGNAL: 'signal',
  PRESENCE_SET: 'presence_set',
  DOC_UPDATE: 'doc_update',
  DOC_SYNC: 'doc_sync',
  DOC_SNAPSHOT: 'doc_snapshot',
})

/** parseFrame decodes one inbound text frame; null when it is not a frame. */
export function parseFrame(text) {
  let f
  try {
    f = JSON.parse(text)
  } catch {
    return null
  }
  if (f === null || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string' || f.type === '') {
    return null
  }
  return f
}

/** toUser converts the wire's {id, name}. */
export function toUser(u) {
  return { id: u?.id ?? '', name: u?.name ?? '' }
}

export function toUsers(list) {
  return Array.isArray(list) ? list.map(toUser) : []
}

/**
 * toMember converts a member; conns is present in presence replies only,
 * and states (connection → presence state) when a connection of the user
 * set one.
 */
export function toMember(m) {
  const out = toUser(m)
  if (typeof m?.conns === 'number') out.conns = m.conns
  if (m?.states && typeof m.states === 'object') out.states = { ...m.states }
  return out
}

/** toStates converts the states of joined and presence_diff: [{user, conn, state}], state null once cleared. */
export function toStates(list) {
  return Array.isArray(list) ? list.map((s) => ({ user: toUser(s.user), conn: s.conn ?? '', state: s.state ?? null })) : []
}

export function toMembers(list) {
  return Array.isArray(list) ? list.map(toMember) : []
}

/** toMessage converts the wire's msg object of room. */
export function toMessage(room, m) {
  return {
    room,
    id: m.id,
    offset: m.offset,
    ts: m.ts,
    from: toUser(m.from),
    kind: m.kind || 'text',
    text: m.text ?? '',
    data: m.data ?? null,
    replyTo: m.reply_to || null,
  }
}

export function toMessages(room, list) {
  return Array.isArray(list) ? list.map((m) => toMessage(room, m)) : []
}

/** sendFrame builds a send request; fields not given are left out. */
export function sendFrame(id, room, msg, cid) {
  const f = { type: T.SEND, id, room, cid }
  if (msg.kind) f.kind = msg.kind
  if (msg.text != null && msg.text !== '') f.text = msg.text
  if (msg.data !== undefined) f.data = msg.data
  if (msg.replyTo) f.reply_to = msg.replyTo
  return f
}

/** joinFrame builds a join request. */
export function joinFrame(id, room, { since, history, password } = {}) {
  const f = { type: T.JOIN, id, room }
  if (password) f.password = password
  if (since) f.since = { epoch: since.epoch, offset: since.offset }
  if (history != null) f.history = history
  return f
}

/**
 * historyFrame builds a history request: forwards from `after` when it is
 * given, else backwards from `before` (0 or absent: the latest page).
 */
export function historyFrame(id, room, { before, after, limit } = {}) {
  const f = { type: T.HISTORY, id, room }
  if (after != null) f.after = after
  else if (before) f.before = before
  if (limit) f.limit = limit
  return f
}
