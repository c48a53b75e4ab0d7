// troupe demo chat: a plain ES module on top of the JavaScript client library.
//
// Rules of this file: no framework, no build step, nothing from outside the
// server. User content reaches the page only through textContent and
// attributes set one by one (never innerHTML), and image URLs pass
// safeImageURL before they become an <img src>.

import { TroupeClient, ServerError } from '/js/troupe/index.js';

const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const HISTORY = 50;
const TYPING_RESEND_MS = 3000; // while typing, "on" again at most this often
const TYPING_IDLE_MS = 4000; // no keystroke for this long: "off"
const TYPING_EXPIRE_MS = 7000; // someone else's "on" without an update fades
const MAX_IMAGE_FILE = 40 * 1024;

// ---------- persistence ----------

// The name and the rooms live in localStorage: every tab of this browser
// starts with them. The session id lives in sessionStorage: it survives a
// reload (which resumes the session) but each tab has its own, since a
// second connection naming the same session would take it over and the
// server would close the first tab's connection (4004).
const KEY = 'troupe.demo.';
function storageFor(k) { return k === 'session' ? sessionStorage : localStorage; }
const saved = {
  get(k) { try { return storageFor(k).getItem(KEY + k); } catch { return null; } },
  set(k, v) {
    try {
      if (v == null) storageFor(k).removeItem(KEY + k); else storageFor(k).setItem(KEY + k, v);
    } catch { /* storage full or disabled: the page still works, without resume */ }
  },
  rooms() {
    try {
      const r = JSON.parse(this.get('rooms') || '[]');
      return Array.isArray(r) ? r.filter((n) => typeof n === 'string' && ROOM_RE.test(n)) : [];
    } catch { return []; }
  },
};

// ---------- elements ----------

const $ = (id) => document.getElementById(id);
const el = {
  status: $('conn-status'), reconnect: $('reconnect'), whoami: $('whoami'), myName: $('my-name'),
  signOut: $('sign-out'), alerts: $('alerts'),
  login: $('login'), loginForm: $('login-form'), loginName: $('login-name'), loginError: $('login-error'),
  app: $('app'), toggleRooms: $('toggle-rooms'), togglePeople: $('toggle-people'),
  roomsPanel: $('rooms-panel'), peoplePanel: $('people-panel'), peopleCountToggle: $('people-count-toggle'),
  joinForm: $('join-form'), joinName: $('join-name'), joined: $('joined-rooms'),
  publicRooms: $('public-rooms'), refreshRooms: $('refresh-rooms'),
  roomTitle: $('room-title'), scroller: $('message-scroller'), loadOlder: $('load-older'), noRoom: $('no-room'),
  typing: $('typing'), composer: $('composer'), text: $('composer-text'), send: $('send'),
  replyPreview: $('reply-preview'), replyLabel: $('reply-label'), replyCancel: $('reply-cancel'),
  attach: $('attach'), imageURL: $('image-url'), imageFile: $('image-file'),
  members: $('members'), peopleCount: $('people-count'),
};

/** Creates an element with properties (class, text, attributes via attrs) and children. */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) { if (av != null) node.setAttribute(a, String(av)); }
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

// ---------- state ----------

/** One joined room: its messages (in offset order), members and typers. */
class Room {
  constructor(name) {
    this.name = name;
    this.byId = new Map(); // message id → message record
    this.records = []; // message records in display order
    this.members = new Map(); // user id → {id, name}
    this.typing = new Map(); // user id → {name, timer}
    this.unread = 0;
    this.firstOffset = 0; // lowest offset shown, for "load older"
    this.more = true;
    this.list = h('ol', {
      class: 'message-list',
      attrs: { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': `Messages in ${name}` },
    });
    this.list.hidden = true;
  }
}

const state = {
  client: null,
  me: null, // {id, name}
  rooms: new Map(), // name → Room, in join order
  current: null, // name of the room shown
  reply: null, // message record being replied to
  typingRoom: null, // room our "typing on" went to, or null
  typingSentAt: 0,
  typingIdle: 0,
  localSeq: 0,
  firstConnect: true,
  publicTimer: 0,
  publicRooms: [], // the last listing of public rooms
  publicError: null,
};

// ---------- small helpers ----------

function errorText(err) {
  if (err instanceof ServerError || (err && typeof err.code === 'string')) {
    return err.message ? `${err.message} (${err.code})` : err.code;
  }
  return (err && err.message) || String(err);
}

let alertTimer = 0;
function alertUser(text) {
  el.alerts.replaceChildren(h('p', { text }));
  clearTimeout(alertTimer);
  alertTimer = setTimeout(() => el.alerts.replaceChildren(), 8000);
}

function formatTime(ts) {
  const d = new Date(ts);
  const today = new Date();
  const opts = { hour: '2-digit', minute: '2-digit' };
  if (d.toDateString() !== today.toDateString()) Object.assign(opts, { month: 'short', day: 'numeric' });
  return d.toLocaleString([], opts);
}

function formatDelay(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms / 100) / 10)} s`;
  return `${Math.round(ms / 1000)} s`;
}

function clip(s, n) {
  s = (s || '').replace(/\s+/g, ' ').trim();
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Returns a URL that is safe to show as an image, or null. */
function safeImageURL(s) {
  if (typeof s !== 'string' || s.length === 0 || s.length > 65536) return null;
  if (/^data:/i.test(s)) {
    return /^data:image\/(png|jpeg|gif|webp|avif|bmp|svg\+xml)[;,]/i.test(s) ? s : null;
  }
  let u;
  try { u = new URL(s, location.href); } catch { return null; }
  if (u.protocol === 'https:' || u.origin === location.origin) return u.href;
  return null;
}

function imageOf(msg) {
  const d = msg.data;
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    if (typeof d.image === 'string') return d.image;
    if (typeof d.url === 'string' && msg.kind === 'image') return d.url;
  }
  return null;
}

function isMine(msg) { return !!(state.me && msg.from && msg.from.id === state.me.id); }

// ---------- connection banner ----------

function setStatus(kind, text) {
  el.status.dataset.state = kind;
  el.status.textContent = text;
  el.reconnect.hidden = kind !== 'closed';
}

function onState(d) {
  switch (d.state) {
    case 'connecting':
      if (state.firstConnect) setStatus('connecting', 'Connecting…');
      break;
    case 'reconnecting': {
      const parts = [];
      if (d.attempt) parts.push(`attempt ${d.attempt}`);
      if (typeof d.delayMs === 'number') parts.push(`next try in ${formatDelay(d.delayMs)}`);
      setStatus('reconnecting', `Connection lost. Reconnecting${parts.length ? ` (${parts.join(', ')})` : ''}…`);
      stopTyping();
      // Typing is never recovered: whoever was typing may have stopped meanwhile.
      for (const room of state.rooms.values()) for (const id of [...room.typing.keys()]) clearTyper(room, id);
      break;
    }
    case 'closed':
      setStatus('closed', closedText(d.code));
      if (d.code === 4004) saved.set('session', null); // taken over: the next start needs a session of its own
      stopTyping();
      break;
    default:
      break;
  }
}

function closedText(code) {
  switch (code) {
    case 1000: return 'Disconnected.';
    case 4002: return 'Disconnected by the server.';
    case 4003: return 'Disconnected: the sign-in expired.';
    case 4004: return 'Disconnected: this session was opened somewhere else.';
    default: return `Disconnected${code ? ` (code ${code})` : ''}.`;
  }
}

function onConnected(d) {
  if (d.session) saved.set('session', d.session);
  if (d.user) setMe(d.user);
  if (d.reconnect) {
    setStatus(state.rooms.size ? 'recovering' : 'recovered',
      state.rooms.size ? 'Reconnected. Recovering missed messages…' : 'Reconnected.');
  } else {
    setStatus('connected', `Connected as ${d.user ? d.user.name : state.me?.name ?? ''}`.trim());
  }
}

function onRecovered(d) {
  const gaps = d.gaps || [];
  const failed = d.failed || [];
  if (gaps.length === 0 && failed.length === 0) {
    setStatus('recovered', 'Reconnected. All missed messages recovered.');
  } else {
    const bits = [];
    if (gaps.length) bits.push(`some messages could not be recovered in ${gaps.join(', ')}`);
    if (failed.length) bits.push(`could not rejoin ${failed.join(', ')}`);
    setStatus('gap', `Reconnected, but ${bits.join('; ')}.`);
  }
  for (const name of failed) dropRoom(name, 'could not be joined again after the reconnect');
  for (const room of state.rooms.values()) refreshPresence(room);
  refreshPublicRooms();
}

// ---------- rooms ----------

function saveRooms() {
  saved.set('rooms', JSON.stringify([...state.rooms.keys()]));
  saved.set('current', state.current);
}

async function joinRoom(name, { show = true } = {}) {
  if (!ROOM_RE.test(name)) {
    alertUser(`"${clip(name, 70)}" is not a valid room name: use 1 to 64 letters, digits or _ . : -`);
    return false;
  }
  const known = state.rooms.get(name);
  if (known) {
    if (show) showRoom(name);
    return true;
  }
  let res;
  try {
    res = await state.client.join(name, { history: HISTORY });
  } catch (err) {
    alertUser(`Could not join ${name}: ${errorText(err)}`);
    return false;
  }
  const room = state.rooms.get(name) || new Room(name);
  if (!state.rooms.has(name)) {
    state.rooms.set(name, room);
    el.scroller.append(room.list);
  }
  room.members.clear();
  for (const m of res.members || []) room.members.set(m.id, m);
  for (const m of res.messages || []) addMessage(room, { ...m, room: name });
  room.more = (res.messages || []).length >= HISTORY;
  saveRooms();
  renderJoined();
  if (show || !state.current) showRoom(name);
  refreshPublicRooms();
  return true;
}

async function leaveRoom(name) {
  if (state.typingRoom === name) stopTyping();
  try {
    await state.client.leave(name);
  } catch (err) {
    alertUser(`Could not leave ${name}: ${errorText(err)}`);
    return;
  }
  dropRoom(name);
  refreshPublicRooms();
}

/** Forgets a room (left, closed, or lost) and shows another one. */
function dropRoom(name, why) {
  const room = state.rooms.get(name);
  if (!room) return;
  for (const t of room.typing.values()) clearTimeout(t.timer);
  room.list.remove();
  state.rooms.delete(name);
  if (why) alertUser(`Room ${name} ${why}.`);
  if (state.current === name) {
    state.current = null;
    const next = state.rooms.keys().next();
    showRoom(next.done ? null : next.value);
  }
  saveRooms();
  renderJoined();
}

function showRoom(name) {
  if (state.current && state.current !== name) stopTyping();
  const prev = state.rooms.get(state.current);
  if (prev) prev.list.hidden = true;
  state.current = name;
  cancelReply();
  const room = state.rooms.get(name);
  const on = !!room;
  el.noRoom.hidden = on;
  el.roomTitle.textContent = on ? `#${name}` : 'No room';
  for (const c of [el.text, el.send, el.imageURL, el.imageFile]) c.disabled = !on;
  if (room) {
    room.list.hidden = false;
    room.unread = 0;
    scrollToBottom(true);
  }
  el.loadOlder.hidden = !(room && room.more && room.records.length);
  renderJoined();
  renderMembers();
  renderTyping();
  saveRooms();
  closePanels();
}

function renderJoined() {
  const items = [];
  for (const room of state.rooms.values()) {
    const current = room.name === state.current;
    const label = h('span', { text: `#${room.name}` });
    const badge = room.unread && !current
      ? h('span', { class: 'badge', text: String(room.unread), attrs: { 'aria-label': `${room.unread} unread` } })
      : null;
    items.push(h('li', {},
      h('button', {
        type: 'button', class: 'room-button',
        attrs: { 'aria-current': current ? 'true' : null, 'data-room': room.name },
        on: { click: () => showRoom(room.name) },
      }, label, badge),
      h('button', {
        type: 'button', class: 'small', text: 'Leave',
        attrs: { 'aria-label': `Leave ${room.name}` },
        on: { click: () => leaveRoom(room.name) },
      }),
    ));
  }
  if (!items.length) items.push(h('li', { class: 'empty-note', text: 'None yet.' }));
  el.joined.replaceChildren(...items);
}

async function refreshPublicRooms() {
  if (!state.client || state.client.state !== 'connected') return;
  try {
    state.publicRooms = await state.client.rooms();
    state.publicError = null;
  } catch (err) {
    state.publicError = errorText(err);
  }
  renderPublicRooms();
}

function renderPublicRooms() {
  if (state.publicError) {
    el.publicRooms.replaceChildren(h('li', { class: 'empty-note', text: `Could not list rooms: ${state.publicError}` }));
    return;
  }
  const list = (state.publicRooms || [])
    .filter((r) => r && typeof r.room === 'string')
    // For rooms this page is in, its own presence list is fresher than the listing.
    .map((r) => (state.rooms.has(r.room) ? { ...r, members: state.rooms.get(r.room).members.size } : r))
    .sort((a, b) => (b.members || 0) - (a.members || 0) || a.room.localeCompare(b.room));
  const items = list.map((r) => {
    const joined = state.rooms.has(r.room);
    const n = r.members || 0;
    return h('li', {},
      h('button', {
        type: 'button', class: 'room-button',
        attrs: { 'data-room': r.room, 'aria-label': `${joined ? 'Open' : 'Join'} ${r.room}, ${n} ${n === 1 ? 'member' : 'members'}` },
        on: { click: () => joinRoom(r.room) },
      }, `#${r.room}`),
      h('span', { class: 'meta', text: `${n} ${n === 1 ? 'member' : 'members'}`, attrs: { 'aria-hidden': 'true' } }),
    );
  });
  if (!items.length) items.push(h('li', { class: 'empty-note', text: 'No public rooms yet.' }));
  el.publicRooms.replaceChildren(...items);
}

// ---------- presence ----------

function renderMembers() {
  const room = state.rooms.get(state.current);
  const members = room ? [...room.members.values()] : [];
  members.sort((a, b) => (a.name || '').localeCompare(b.name || '') || a.id.localeCompare(b.id));
  el.members.replaceChildren(...members.map((m) => h('li', { attrs: { 'data-user': m.id } },
    m.name || m.id,
    state.me && m.id === state.me.id ? h('span', { class: 'you', text: ' (you)' }) : null)));
  const count = room ? `(${members.length})` : '';
  el.peopleCount.textContent = count;
  el.peopleCountToggle.textContent = count;
}

function onPresence(d) {
  const room = state.rooms.get(d.room);
  if (!room) return;
  for (const u of d.leaves || []) {
    room.members.delete(u.id);
    clearTyper(room, u.id);
  }
  for (const u of d.joins || []) room.members.set(u.id, u);
  if (d.room === state.current) renderMembers();
  renderPublicRooms();
}

async function refreshPresence(room) {
  try {
    const res = await state.client.presence(room.name);
    const members = Array.isArray(res) ? res : (res && res.members) || [];
    room.members.clear();
    for (const m of members) room.members.set(m.id, m);
    if (room.name === state.current) renderMembers();
    renderPublicRooms();
  } catch { /* the next presence diff corrects the list */ }
}

// ---------- typing ----------

function onTyping(d) {
  const room = state.rooms.get(d.room);
  if (!room || !d.user || (state.me && d.user.id === state.me.id)) return;
  if (!d.on) {
    clearTyper(room, d.user.id);
    return;
  }
  const prev = room.typing.get(d.user.id);
  if (prev) clearTimeout(prev.timer);
  room.typing.set(d.user.id, {
    name: d.user.name || d.user.id,
    timer: setTimeout(() => clearTyper(room, d.user.id), TYPING_EXPIRE_MS),
  });
  if (room.name === state.current) renderTyping();
}

function clearTyper(room, userId) {
  const t = room.typing.get(userId);
  if (!t) return;
  clearTimeout(t.timer);
  room.typing.delete(userId);
  if (room.name === state.current) renderTyping();
}

function renderTyping() {
  const room = state.rooms.get(state.current);
  const names = room ? [...room.typing.values()].map((t) => t.name) : [];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  if (el.typing.textContent !== text) el.typing.textContent = text;
}

function noteTyping() {
  const name = state.current;
  if (!name || !state.client) return;
  if (!el.text.value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (state.typingRoom !== name || now - state.typingSentAt >= TYPING_RESEND_MS) {
    if (state.typingRoom && state.typingRoom !== name) stopTyping();
    state.typingRoom = name;
    state.typingSentAt = now;
    state.client.typing(name, true).catch(() => { /* typing is best effort */ });
  }
  clearTimeout(state.typingIdle);
  state.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingIdle);
  const name = state.typingRoom;
  state.typingRoom = null;
  state.typingSentAt = 0;
  if (name && state.client && state.rooms.has(name) && state.client.state === 'connected') {
    state.client.typing(name, false).catch(() => { /* best effort */ });
  }
}

// ---------- messages ----------

/** Adds a message (from an event, a join, or history) unless already shown. */
function addMessage(room, msg, { older = false } = {}) {
  if (!msg || !msg.id || room.byId.has(msg.id)) return null;
  const rec = { ...msg, local: false };
  room.byId.set(msg.id, rec);
  rec.el = renderMessage(room, rec);
  placeRecord(room, rec, older);
  if (msg.from) clearTyper(room, msg.from.id);
  if (typeof msg.offset === 'number' && msg.offset > 0 && (!room.firstOffset || msg.offset < room.firstOffset)) {
    room.firstOffset = msg.offset;
  }
  refreshQuotes(room, rec);
  return rec;
}

/** Puts a record into the list in offset order; own messages still unsent stay last. */
function placeRecord(room, rec, older) {
  const sticky = scrolledToBottom();
  const i = rec.offset == null ? -1 : room.records.findIndex((r) => r.offset == null || r.offset > rec.offset);
  if (i < 0) {
    room.records.push(rec);
    room.list.append(rec.el);
  } else {
    room.records.splice(i, 0, rec);
    room.list.insertBefore(rec.el, room.records[i + 1].el);
  }
  if (room.name === state.current && !older && (sticky || rec.local)) scrollToBottom();
}

function renderMessage(room, rec) {
  const li = h('li', {
    class: `msg${isMine(rec) || rec.local ? ' mine' : ''}`,
    id: rec.id ? domId(rec.id) : '',
    attrs: { 'data-id': rec.id || null, tabindex: '-1' },
  });
  fillMessage(room, rec, li);
  return li;
}

function domId(msgId) { return `msg-${msgId}`; }

function fillMessage(room, rec, li) {
  const from = rec.from ? rec.from.name || rec.from.id : '';
  const head = h('div', { class: 'msg-head' },
    h('span', { class: 'msg-from', text: from }));
  if (rec.ts) {
    head.append(h('time', {
      class: 'msg-time', text: formatTime(rec.ts),
      attrs: { datetime: new Date(rec.ts).toISOString(), title: new Date(rec.ts).toLocaleString() },
    }));
  }
  if (rec.local) {
    head.append(h('span', { class: 'msg-status', text: rec.failed ? `Not sent: ${rec.failed}` : 'sending…' }));
  }
  if (rec.id) {
    head.append(h('span', { class: 'msg-actions' },
      h('button', {
        type: 'button', class: 'small reply-button', text: 'Reply',
        attrs: { 'aria-label': `Reply to ${from}: ${clip(rec.text || (imageOf(rec) ? 'image' : ''), 60)}` },
        on: { click: () => startReply(room, rec) },
      })));
  } else if (rec.failed) {
    head.append(h('span', { class: 'msg-actions' },
      h('button', { type: 'button', class: 'small', text: 'Retry', on: { click: () => retrySend(room, rec) } })));
  }
  const parts = [head];
  if (rec.replyTo) parts.push(renderQuote(room, rec.replyTo));
  if (rec.text) parts.push(h('p', { class: 'msg-text', text: rec.text }));
  const img = imageOf(rec);
  if (img != null) {
    const src = safeImageURL(img);
    if (src) {
      parts.push(h('img', {
        class: 'msg-image', src, alt: rec.text ? `Image: ${clip(rec.text, 120)}` : `Image from ${from}`,
        loading: 'lazy', decoding: 'async', referrerPolicy: 'no-referrer',
      }));
    } else {
      parts.push(h('p', { class: 'msg-image-blocked', text: 'An image with an unsupported address (only https: and data:image URLs are shown).' }));
    }
  }
  li.replaceChildren(...parts);
}

function renderQuote(room, parentId) {
  const parent = room.byId.get(parentId);
  if (!parent) {
    return h('span', { class: 'quote', attrs: { 'data-reply-to': parentId } }, 'Reply to an earlier message');
  }
  const who = parent.from ? parent.from.name || parent.from.id : '';
  const what = parent.text || (imageOf(parent) ? '[image]' : '');
  return h('a', {
    class: 'quote', href: `#${domId(parentId)}`,
    attrs: { 'data-reply-to': parentId, 'aria-label': `In reply to ${who}: ${clip(what, 80)}` },
    on: {
      click: (e) => {
        e.preventDefault();
        parent.el.scrollIntoView({ block: 'center' });
        parent.el.focus({ preventScroll: true });
      },
    },
  }, h('span', { class: 'quote-from', text: who }), h('span', { class: 'quote-text', text: clip(what, 140) }));
}

/** Re-renders quotes of rec that were shown before rec itself was known. */
function refreshQuotes(room, rec) {
  for (const q of room.list.querySelectorAll('span.quote[data-reply-to]')) {
    if (q.dataset.replyTo === rec.id) q.replaceWith(renderQuote(room, rec.id));
  }
}

function onMessage(d) {
  const room = state.rooms.get(d.room);
  if (!room) return;
  const rec = addMessage(room, d);
  if (rec && room.name !== state.current) {
    room.unread++;
    renderJoined();
  }
}

function onRecovery(d) {
  const room = state.rooms.get(d.room);
  if (!room) return;
  if (d.epochChanged) {
    // The room's history was lost on the server: the old offsets mean nothing now.
    room.byId.clear();
    room.records = [];
    room.firstOffset = 0;
    room.list.replaceChildren(systemLine('The history of this room was reset on the server.', 'gap'));
  } else if (!d.recovered) {
    room.list.append(systemLine('Some messages could not be recovered here.', 'gap'));
  }
}

function systemLine(text, extra) {
  return h('li', { class: `system-line${extra ? ` ${extra}` : ''}`, text });
}

function onSystem(d) {
  const room = state.rooms.get(d.room);
  if (!room) return;
  room.list.append(systemLine(d.text || d.event || 'System notice'));
  if (room.name === state.current) scrollToBottom();
}

function onRoomClosed(d) {
  dropRoom(d.room, d.reason === 'deleted' ? 'was deleted' : `was closed (${d.reason || 'unknown reason'})`);
  refreshPublicRooms();
}

async function loadOlder() {
  const room = state.rooms.get(state.current);
  if (!room || !room.firstOffset) return;
  el.loadOlder.disabled = true;
  try {
    const res = await state.client.history(room.name, { before: room.firstOffset, limit: HISTORY });
    const msgs = Array.isArray(res) ? res : (res && (res.msgs || res.messages)) || [];
    const top = el.scroller.scrollHeight - el.scroller.scrollTop;
    for (const m of msgs) addMessage(room, { ...m, room: room.name }, { older: true });
    el.scroller.scrollTop = el.scroller.scrollHeight - top;
    room.more = Array.isArray(res) ? msgs.length >= HISTORY : !!(res && res.more);
  } catch (err) {
    alertUser(`Could not load older messages: ${errorText(err)}`);
  } finally {
    el.loadOlder.disabled = false;
    el.loadOlder.hidden = !room.more;
  }
}

// ---------- sending ----------

function startReply(room, rec) {
  state.reply = { room: room.name, rec };
  const who = rec.from ? rec.from.name || rec.from.id : '';
  el.replyLabel.textContent = `Replying to ${who}: ${clip(rec.text || (imageOf(rec) ? '[image]' : ''), 80)}`;
  el.replyPreview.hidden = false;
  el.text.focus();
}

function cancelReply() {
  state.reply = null;
  el.replyPreview.hidden = true;
  el.replyLabel.textContent = '';
}

async function submitComposer() {
  const room = state.rooms.get(state.current);
  if (!room) return;
  const text = el.text.value.replace(/\s+$/, '');
  const rawImage = el.imageURL.value.trim();
  if (!text.trim() && !rawImage) return;
  const payload = { text: text.trim() ? text : undefined };
  if (rawImage) {
    if (!safeImageURL(rawImage)) {
      alertUser('That image address cannot be shown: use an https: URL or a data:image URL.');
      el.imageURL.focus();
      return;
    }
    payload.kind = 'image';
    payload.data = { image: rawImage };
  }
  if (state.reply && state.reply.room === room.name) payload.replyTo = state.reply.rec.id;
  if (new TextEncoder().encode(text).length > 8192) {
    alertUser('That message is too long (8 KB at most).');
    return;
  }
  el.text.value = '';
  el.imageURL.value = '';
  el.imageFile.value = '';
  el.attach.open = false;
  cancelReply();
  stopTyping();
  const rec = {
    id: null, offset: null, ts: Date.now(), local: true, failed: null,
    from: state.me, kind: payload.kind || 'text', text: payload.text || '', data: payload.data ?? null,
    replyTo: payload.replyTo || null, payload, seq: ++state.localSeq,
  };
  rec.el = renderMessage(room, rec);
  placeRecord(room, rec, false);
  await deliver(room, rec);
}

async function deliver(room, rec) {
  try {
    const ack = await state.client.send(room.name, rec.payload);
    rec.local = false;
    rec.failed = null;
    if (room.byId.has(ack.msgId)) {
      // Already shown (replayed by recovery before the ack came): keep one.
      rec.el.remove();
      room.records.splice(room.records.indexOf(rec), 1);
      return;
    }
    rec.id = ack.msgId;
    rec.offset = ack.offset;
    rec.ts = ack.ts || rec.ts;
    room.byId.set(rec.id, rec);
    // Re-render with its id and time, and move it to its offset's place.
    room.records.splice(room.records.indexOf(rec), 1);
    rec.el.remove();
    rec.el = renderMessage(room, rec);
    placeRecord(room, rec, false);
    refreshQuotes(room, rec);
  } catch (err) {
    rec.failed = errorText(err);
    fillMessage(room, rec, rec.el);
    rec.el.classList.add('failed');
  }
}

function retrySend(room, rec) {
  rec.failed = null;
  rec.el.classList.remove('failed');
  fillMessage(room, rec, rec.el);
  deliver(room, rec);
}

async function attachFile() {
  const file = el.imageFile.files && el.imageFile.files[0];
  if (!file) return;
  if (file.size > MAX_IMAGE_FILE) {
    alertUser(`That file is ${Math.ceil(file.size / 1024)} KB; images sent inline can be 40 KB at most.`);
    el.imageFile.value = '';
    return;
  }
  const url = await new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
  el.imageURL.value = url;
}

// ---------- scrolling and panels ----------

function scrolledToBottom() {
  const s = el.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom(instant) {
  const s = el.scroller;
  if (instant) s.scrollTo({ top: s.scrollHeight, behavior: 'instant' });
  else s.scrollTo({ top: s.scrollHeight });
}

function togglePanel(button, panel) {
  const open = button.getAttribute('aria-expanded') !== 'true';
  closePanels();
  button.setAttribute('aria-expanded', String(open));
  panel.classList.toggle('open', open);
  if (open) panel.querySelector('input, button')?.focus();
}

function closePanels() {
  for (const [b, p] of [[el.toggleRooms, el.roomsPanel], [el.togglePeople, el.peoplePanel]]) {
    b.setAttribute('aria-expanded', 'false');
    p.classList.remove('open');
  }
}

// ---------- session ----------

function setMe(user) {
  state.me = user;
  el.myName.textContent = user.name || user.id;
  el.whoami.hidden = false;
}

async function start(name) {
  el.loginError.textContent = '';
  const client = new TroupeClient({ url: location.origin, name, session: saved.get('session') || undefined });
  state.client = client;
  const on = (type, fn) => client.addEventListener(type, (e) => {
    if (state.client === client) fn(e.detail || {});
  });
  on('state', onState);
  on('connected', onConnected);
  on('message', onMessage);
  on('presence', onPresence);
  on('typing', onTyping);
  on('system', onSystem);
  on('room_closed', onRoomClosed);
  on('recovery', onRecovery);
  on('recovered', onRecovered);
  state.firstConnect = true;
  setStatus('connecting', 'Connecting…');
  let welcome;
  try {
    welcome = await client.connect();
  } catch (err) {
    state.client = null;
    client.close();
    setStatus('closed', 'Not connected.');
    showLogin(`Could not connect: ${errorText(err)}`);
    return;
  }
  state.firstConnect = false;
  saved.set('name', name);
  if (welcome.session) saved.set('session', welcome.session);
  setMe(welcome.user || { id: '', name });
  setStatus('connected', `Connected as ${state.me.name}`);
  el.login.hidden = true;
  el.app.hidden = false;
  const rooms = saved.rooms();
  const current = saved.get('current');
  for (const r of rooms.length ? rooms : ['general']) {
    await joinRoom(r, { show: false });
  }
  if (current && state.rooms.has(current)) showRoom(current);
  else if (!state.current) showRoom(state.rooms.keys().next().value ?? null);
  refreshPublicRooms();
  clearInterval(state.publicTimer);
  state.publicTimer = setInterval(refreshPublicRooms, 20000);
  el.text.focus();
}

function showLogin(error) {
  el.app.hidden = true;
  el.login.hidden = false;
  el.loginName.value = saved.get('name') || el.loginName.value;
  el.loginError.textContent = error || '';
  el.loginName.focus();
}

function signOut() {
  clearInterval(state.publicTimer);
  stopTyping();
  const c = state.client;
  state.client = null;
  if (c) c.close();
  for (const room of state.rooms.values()) room.list.remove();
  state.rooms.clear();
  state.current = null;
  state.me = null;
  saved.set('session', null);
  saved.set('rooms', null);
  saved.set('current', null);
  el.whoami.hidden = true;
  setStatus('idle', 'Not connected');
  showRoom(null);
  showLogin();
}

// ---------- wiring ----------

el.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = el.loginName.value.trim();
  if (!name) {
    el.loginError.textContent = 'Please enter a name.';
    el.loginName.focus();
    return;
  }
  start(name);
});

el.joinForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = el.joinName.value.trim().replace(/^#/, '');
  if (await joinRoom(name)) el.joinName.value = '';
});

el.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  submitComposer();
});
el.text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submitComposer();
  } else if (e.key === 'Escape' && state.reply) {
    e.preventDefault();
    cancelReply();
  }
});
el.text.addEventListener('input', noteTyping);
el.text.addEventListener('blur', () => { if (!el.text.value.trim()) stopTyping(); });
el.replyCancel.addEventListener('click', () => { cancelReply(); el.text.focus(); });
el.imageFile.addEventListener('change', () => {
  attachFile().catch((err) => alertUser(`Could not read that file: ${errorText(err)}`));
});
el.loadOlder.addEventListener('click', loadOlder);
el.refreshRooms.addEventListener('click', refreshPublicRooms);
el.signOut.addEventListener('click', signOut);
el.reconnect.addEventListener('click', () => {
  const name = state.me ? state.me.name : saved.get('name');
  const c = state.client;
  state.client = null;
  if (c) c.close();
  for (const room of state.rooms.values()) room.list.remove();
  state.rooms.clear();
  state.current = null;
  if (name) start(name); else showLogin();
});
el.toggleRooms.addEventListener('click', () => togglePanel(el.toggleRooms, el.roomsPanel));
el.togglePeople.addEventListener('click', () => togglePanel(el.togglePeople, el.peoplePanel));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && (el.roomsPanel.classList.contains('open') || el.peoplePanel.classList.contains('open'))) {
    closePanels();
  }
});

const savedName = saved.get('name');
if (savedName) start(savedName); else showLogin();
