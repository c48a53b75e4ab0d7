// Pushed frames (no id) become events.

import { ServerError } from './errors.js'
import { T, toStates, toUser, toUsers } from './frames.js'
import { pushMessages } from './rooms.js'

/** handlePush turns a frame the server pushed on conn into events. */
export function handlePush(core, conn, f) {
  if (core.conn !== conn) return // not welcomed yet, or replaced
  switch (f.type) {
    case T.MESSAGE:
      if (f.msg) pushMessages(core, conn, f.room, [f.msg])
      return
    case T.BATCH:
      pushMessages(core, conn, f.room, Array.isArray(f.msgs) ? f.msgs : [])
      return
    case T.PRESENCE_DIFF: {
      const ev = { room: f.room, joins: toUsers(f.joins), leaves: toUsers(f.leaves) }
      if (Array.isArray(f.states) && f.states.length > 0) ev.states = toStates(f.states)
      core.emit('presence', ev)
      return
    }
    case T.SIGNAL:
      core.emit('signal', { room: f.room, user: toUser(f.user), conn: f.conn ?? '', key: f.key, data: f.data ?? null })
      return
    case T.TYPING:
      core.emit('typing', { room: f.room, user: toUser(f.user), on: Boolean(f.on) })
      return
    case T.DIRECT:
      core.emit('direct', { from: toUser(f.from), text: f.text ?? '', data: f.data ?? null, ts: f.ts })
      return
    case T.NOTIFY:
      core.emit('notify', { event: f.event, data: f.data ?? null, ts: f.ts })
      return
    case T.SYSTEM:
      core.emit('system', { room: f.room, event: f.event, text: f.text ?? '' })
      return
    case T.ROOM_CLOSED:
      // The client is no longer a member: stop tracking the room.
      core.rooms.delete(f.room)
      core.emit('room_closed', { room: f.room, reason: f.reason })
      core.changed()
      return
    case T.ERROR:
      // An error that answers no request, such as not_joined for typing.
      core.emit('error', { error: new ServerError(f.code ?? 'internal', f.message ?? '') })
      return
    default:
    // A frame type this client does not know (the server may add some), or
    // a reply without id (left, after a rejoin raced a leave): ignored.
  }
}
