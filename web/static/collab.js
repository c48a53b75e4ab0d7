// troupe shared notes: one text per room, edited by everyone in it at once.
// A plain ES module on the JavaScript client library and Yjs:
//   - the text is a Y.Text synced through the room's shared document by the
//     client's Yjs provider (vendor/yjs.mjs bundles Yjs with it);
//   - cursors are signals (key "cursor") carrying Yjs relative positions,
//     so a cursor stays on its character while others edit before it;
//   - who is here, in which colour and whether they are editing is each
//     connection's presence state.
//
// Rules of this file, as of the chat page's: no framework, no build step,
// nothing from outside the server, user content only through textContent.
//
// Query parameters: room (default "notes"), name (skips the name form),
// snapshotEvery (updates between snapshots the page uploads; default 200).

import { TroupeClient } from '/js/troupe/index.js';
import * as Y from '/vendor/yjs.mjs';

const ROOM_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const COLOR_RE = /^#[0-9a-f]{6}$/i;
const COLORS = ['#c2410c', '#15803d', '#1d4ed8', '#a21caf', '#b91c1c', '#0f766e', '#7c3aed', '#a16207'];
const CURSOR_EVERY_MS = 40; // cursor signals at most this often (25/s)
const EDITING_IDLE_MS = 2500; // no keystroke for this long: no longer "editing"
const LOCAL = Symbol('textarea'); // the origin of edits made in this page's textarea

const params = new URLSearchParams(location.search);
const ROOM = ROOM_RE.test(params.get('room') ?? '') ? params.get('room') : 'notes';
const SNAPSHOT_EVERY = /^\d{1,6}$/.test(params.get('snapshotEvery') ?? '') ? Number(params.get('snapshotEvery')) : 200;
const NAME_KEY = 'troupe.collab.name';

const $ = (id) => document.getElementById(id);
const el = {
  status: $('conn-status'), docStatus: $('doc-status'), whoami: $('whoami'), myName: $('my-name'), alerts: $('alerts'),
  login: $('login'), loginForm: $('login-form'), loginName: $('login-name'), loginError: $('login-error'),
  app: $('app'), roomName: $('room-name'), editor: $('editor'), cursors: $('cursors'),
  people: $('people'), peopleCount: $('people-count'),
};

const state = {
  client: null,
  doc: null,
  text: null, // the Y.Text
  provider: null,
  color: COLORS[0],
  members: new Map(), // user id → {id, name}
  conns: new Map(), // connection → {user, state}
  cursors: new Map(), // connection → {user, color, anchor, head, node}
  editing: false,
  editingTimer: 0,
  cursorTimer: 0,
  cursorSentAt: 0,
  reconnected: false,
  loadStart: 0,
};

// ---------- small helpers ----------

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) node.setAttribute(a, String(av));
    else node[k] = v;
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

let alertTimer = 0;
function alertUser(text) {
  el.alerts.replaceChildren(h('p', { text }));
  clearTimeout(alertTimer);
  alertTimer = setTimeout(() => el.alerts.replaceChildren(), 8000);
}

function setStatus(s, text) {
  el.status.dataset.state = s;
  el.status.textContent = text;
}

function colorOf(st) {
  return st && typeof st.color === 'string' && COLOR_RE.test(st.color) ? st.color : '#4b5563';
}

function pickColor() {
  const b = new Uint8Array(1);
  crypto.getRandomValues(b);
  return COLORS[b[0] % COLORS.length];
}

// ---------- the text: textarea ⇄ Y.Text ----------

/** onInput turns the textarea's change into one Y.Text edit: the span between the common prefix and suffix. */
function onInput() {
  const before = state.text.toString();
  const after = el.editor.value;
  if (before === after) return;
  let p = 0;
  const max = Math.min(before.length, after.length);
  while (p < max && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  let s = 0;
  while (s < max - p && before.charCodeAt(before.length - 1 - s) === after.charCodeAt(after.length - 1 - s)) s++;
  state.doc.transact(() => {
    if (before.length - p - s > 0) state.text.delete(p, before.length - p - s);
    if (after.length - p - s > 0) state.text.insert(p, after.slice(p, after.length - s));
  }, LOCAL);
  setEditing();
  scheduleCursor();
  showPending();
}

/** transformIndex moves index of the text before a change (delta) to where it is after it. */
function transformIndex(index, delta) {
  let pos = 0;
  for (const op of delta) {
    if (pos > index) break;
    if (op.retain) pos += op.retain;
    else if (op.insert != null) {
      const n = typeof op.insert === 'string' ? op.insert.length : 1;
      if (pos < index) index += n;
      pos += n;
    } else if (op.delete) {
      if (pos < index) index -= Math.min(op.delete, index - pos);
    }
  }
  return index;
}

/** onTextChange shows a change that did not come from this textarea, keeping the selection on its characters. */
function onTextChange(event) {
  if (event.transaction.origin !== LOCAL) {
    const ed = el.editor;
    const focused = document.activeElement === ed;
    const start = transformIndex(ed.selectionStart, event.delta);
    const end = transformIndex(ed.selectionEnd, event.delta);
    const top = ed.scrollTop;
    ed.value = state.text.toString();
    if (focused) ed.setSelectionRange(start, end);
    ed.scrollTop = top;
  }
  renderCursors();
}

// ---------- cursors (signals) ----------

function relJSON(index) {
  return Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(state.text, index));
}

/** scheduleCursor sends this page's selection as a signal, at most every CURSOR_EVERY_MS (the last one always goes). */
function scheduleCursor() {
  if (!state.text || state.cursorTimer) return;
  const wait = Math.max(0, state.cursorSentAt + CURSOR_EVERY_MS - Date.now());
  state.cursorTimer = setTimeout(sendCursor, wait);
}

function sendCursor() {
  state.cursorTimer = 0;
  state.cursorSentAt = Date.now();
  const ed = el.editor;
  const data = { anchor: relJSON(ed.selectionStart), head: relJSON(ed.selectionEnd), color: state.color };
  state.client.signal(ROOM, 'cursor', data).catch(() => { /* not connected: the next move sends it */ });
}

function onSignal(e) {
  const { room, user, conn, key, data } = e.detail;
  if (room !== ROOM || key !== 'cursor' || !data || typeof data !== 'object') return;
  let c = state.cursors.get(conn);
  if (!c) {
    const label = h('span', { class: 'cursor-name', text: user.name });
    c = { node: h('div', { class: 'cursor', attrs: { 'data-conn': conn, 'data-user': user.name } }, label) };
    state.cursors.set(conn, c);
    el.cursors.append(c.node);
  }
  c.user = user;
  c.color = COLOR_RE.test(data.color ?? '') ? data.color : colorOf(state.conns.get(conn)?.state);
  c.anchor = data.anchor;
  c.head = data.head;
  renderCursor(c);
}

function dropCursor(conn) {
  const c = state.cursors.get(conn);
  if (!c) return;
  c.node.remove();
  state.cursors.delete(conn);
}

/** indexOf resolves a cursor's relative position in this page's text; null when it cannot be. */
function indexOf(rel) {
  try {
    const abs = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(rel), state.doc);
    return abs && abs.type === state.text ? abs.index : null;
  } catch {
    return null;
  }
}

// The mirror: an invisible copy of the textarea's box and text up to an
// index, whose marker span stands where that index's caret is.
const mirror = h('div', { class: 'editor-mirror', attrs: { 'aria-hidden': 'true' } });
const MIRRORED = ['fontFamily', 'fontSize', 'fontWeight', 'lineHeight', 'letterSpacing', 'tabSize',
  'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
  'borderTopWidth', 'borderRightWidth', 'borderBottomWidth', 'borderLeftWidth', 'boxSizing'];

function caretXY(index) {
  const cs = getComputedStyle(el.editor);
  for (const p of MIRRORED) mirror.style[p] = cs[p];
  mirror.style.width = `${el.editor.clientWidth + parseFloat(cs.borderLeftWidth) + parseFloat(cs.borderRightWidth)}px`;
  const marker = h('span', { text: '\u200b' });
  mirror.replaceChildren(document.createTextNode(el.editor.value.slice(0, index)), marker);
  // offsetLeft/Top count from the mirror's padding box; the overlay starts at the border.
  return {
    x: parseFloat(cs.borderLeftWidth) + marker.offsetLeft - el.editor.scrollLeft,
    y: parseFloat(cs.borderTopWidth) + marker.offsetTop - el.editor.scrollTop,
    height: marker.offsetHeight,
  };
}

function renderCursor(c) {
  const head = indexOf(c.head);
  if (head == null) {
    c.node.hidden = true;
    return;
  }
  const { x, y, height } = caretXY(head);
  c.node.hidden = y < -height || y > el.editor.clientHeight;
  c.node.dataset.index = String(head);
  const anchor = indexOf(c.anchor);
  if (anchor != null) c.node.dataset.anchor = String(anchor);
  c.node.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  c.node.style.height = `${height}px`;
  c.node.style.setProperty('--cursor-color', c.color);
  c.node.querySelector('.cursor-name').textContent = c.user.name;
}

function renderCursors() {
  for (const c of state.cursors.values()) renderCursor(c);
}

// ---------- presence ----------

function setEditing() {
  clearTimeout(state.editingTimer);
  state.editingTimer = setTimeout(() => publishPresence(false), EDITING_IDLE_MS);
  if (!state.editing) publishPresence(true);
}

function publishPresence(editing) {
  state.editing = editing;
  state.client.setPresence(ROOM, { color: state.color, editing }).catch(() => { /* set again after the rejoin */ });
}

function applyStates(list) {
  let fresh = false;
  for (const { user, conn, state: st } of list) {
    if (st == null) {
      state.conns.delete(conn);
      dropCursor(conn);
      continue;
    }
    if (!state.conns.has(conn) && conn !== state.client.connId) fresh = true;
    state.conns.set(conn, { user, state: st });
    state.members.set(user.id, user);
  }
  // Someone new: let them see where this page's cursor is without waiting for it to move.
  if (fresh) scheduleCursor();
}

function onPresence(e) {
  const d = e.detail;
  if (d.room !== ROOM) return;
  for (const u of d.joins) state.members.set(u.id, u);
  for (const u of d.leaves) {
    state.members.delete(u.id);
    for (const [conn, c] of state.conns) {
      if (c.user.id === u.id) {
        state.conns.delete(conn);
        dropCursor(conn);
      }
    }
  }
  if (d.states) applyStates(d.states);
  renderPeople();
}

function renderPeople() {
  const me = state.client.user;
  const items = [...state.members.values()].sort((a, b) => a.name.localeCompare(b.name)).map((u) => {
    const conns = [...state.conns.values()].filter((c) => c.user.id === u.id);
    const editing = conns.some((c) => c.state.editing === true);
    const swatch = h('span', { class: 'swatch', attrs: { 'aria-hidden': 'true' } });
    swatch.style.setProperty('--swatch', colorOf(conns[0]?.state));
    return h('li', { attrs: { 'data-user': u.id } },
      swatch,
      h('span', { class: 'person-name', text: u.name }),
      me && u.id === me.id ? h('span', { class: 'you', text: ' (you)' }) : null,
      editing ? h('span', { class: 'editing', text: 'editing…' }) : null);
  });
  el.people.replaceChildren(...items);
  el.peopleCount.textContent = `(${items.length})`;
}

// ---------- connection and document status ----------

function onState(e) {
  const { state: s, attempt, delayMs } = e.detail;
  if (s === 'reconnecting') {
    state.reconnected = true;
    const next = delayMs != null ? `, next try in ${(delayMs / 1000).toFixed(1)} s` : '';
    setStatus('reconnecting', `Reconnecting (attempt ${attempt ?? 1}${next}); your edits are kept`);
  } else if (s === 'connected') {
    setStatus('connected', state.reconnected ? 'Reconnected, syncing the notes…' : 'Connected, loading the notes…');
  } else if (s === 'connecting') {
    setStatus('connecting', 'Connecting…');
  } else if (s === 'closed') {
    setStatus('closed', 'Disconnected; reload the page to edit again');
    el.editor.readOnly = true;
  }
}

function onSynced(e) {
  const { offset, snapshot, updates } = e.detail;
  if (state.loadStart) {
    // The first load: how long it took, and what it loaded.
    const ms = Math.round(performance.now() - state.loadStart);
    state.loadStart = 0;
    el.docStatus.dataset.loadMs = String(ms);
    el.docStatus.dataset.snapshot = snapshot == null ? '' : String(snapshot);
    el.docStatus.dataset.updates = String(updates);
    const from = snapshot == null ? `${updates} updates` : `a snapshot at offset ${snapshot} and ${updates} updates`;
    el.docStatus.textContent = `Loaded ${from} in ${ms} ms`;
  }
  el.docStatus.dataset.offset = String(offset);
  if (state.client.state === 'connected') {
    setStatus('synced', state.reconnected ? 'Back online: notes in sync' : 'Connected: notes in sync');
  }
  showPending();
}

/** showPending tells how many edits wait for the server, until they are all acknowledged. */
function showPending() {
  const p = state.provider;
  if (!p) return;
  el.editor.dataset.pending = String(p.pending);
  if (p.pending === 0) return;
  p.flushed().then(() => {
    el.editor.dataset.pending = String(p.pending);
  });
}

// ---------- start ----------

async function start(name) {
  el.login.hidden = true;
  el.app.hidden = false;
  el.whoami.hidden = false;
  el.myName.textContent = name;
  el.roomName.textContent = ROOM;
  document.body.append(mirror);
  state.color = pickColor();
  state.loadStart = performance.now();

  const client = new TroupeClient({ url: location.origin, name });
  state.client = client;
  client.addEventListener('state', onState);
  client.addEventListener('signal', onSignal);
  client.addEventListener('presence', onPresence);
  client.addEventListener('recovery', (e) => {
    if (e.detail.room !== ROOM) return;
    // The diffs of the disconnect were missed: start over from the rejoin's states.
    state.conns.clear();
    for (const conn of [...state.cursors.keys()]) dropCursor(conn);
    applyStates(e.detail.states ?? []);
    renderPeople();
  });
  client.addEventListener('recovered', () => {
    client.presence(ROOM).then((members) => {
      state.members = new Map(members.map((m) => [m.id, { id: m.id, name: m.name }]));
      renderPeople();
    }).catch(() => { /* the next presence diff fixes the list */ });
  });
  client.addEventListener('error', (e) => alertUser(e.detail.error.message));

  try {
    await client.connect();
    // No chat history: the notes come from the document's sync.
    const joined = await client.join(ROOM, { history: 0 });
    for (const m of joined.members) state.members.set(m.id, m);
    applyStates(joined.states);
    publishPresence(false);
    renderPeople();

    state.doc = new Y.Doc();
    state.text = state.doc.getText('notes');
    state.provider = new Y.TroupeYjsProvider(client, ROOM, state.doc, { snapshotEvery: SNAPSHOT_EVERY });
    state.provider.addEventListener('synced', onSynced);
    state.provider.addEventListener('snapshot', (e) => {
      if (e.detail.stored) el.docStatus.dataset.snapshotStored = String(e.detail.offset);
    });
    state.provider.addEventListener('closed', () => {
      setStatus('closed', 'These notes were deleted; reload the page to start new ones');
      el.editor.readOnly = true;
    });
    state.provider.addEventListener('error', (e) => alertUser(`An edit was refused: ${e.detail.error.message}`));
    await state.provider.whenSynced();
  } catch (err) {
    alertUser(`Cannot open the notes: ${err.message}`);
    return;
  }
  el.editor.value = state.text.toString();
  state.text.observe(onTextChange);
  el.editor.addEventListener('input', onInput);
  for (const ev of ['keyup', 'mouseup', 'select', 'focus']) el.editor.addEventListener(ev, scheduleCursor);
  document.addEventListener('selectionchange', () => {
    if (document.activeElement === el.editor) scheduleCursor();
  });
  el.editor.addEventListener('scroll', renderCursors);
  new ResizeObserver(renderCursors).observe(el.editor);
  el.editor.disabled = false;
  el.editor.focus();
}

el.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = el.loginName.value.trim();
  if (!name) {
    el.loginError.textContent = 'Pick a name first.';
    el.loginName.focus();
    return;
  }
  try { localStorage.setItem(NAME_KEY, name); } catch { /* the page works without it */ }
  start(name);
});

const given = (params.get('name') ?? '').trim();
let remembered = null;
try { remembered = localStorage.getItem(NAME_KEY); } catch { /* storage disabled */ }
if (given) start(given);
else {
  if (remembered) el.loginName.value = remembered;
  el.loginName.focus();
}
