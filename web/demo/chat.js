// Chat demo: actor "chat", room id from ?room= (default "lobby").
// State {messages: [{id, from, name, text, at}], online: [{clientId, name}]};
// methods join {name} and send {text}; event newMessage carries a message.
// Messages arrive both ways: the event shows them at once, the state keeps
// the history and the online list.
import { $, errorText, h, param, start, toast } from '/demo.js';

const NAME_KEY = 'zocket-demo:name';
const ROOMS = ['lobby', 'random', 'help'];
const room = param('room', 'lobby');

const client = start();
const chat = client.actor('chat', room);

const messagesEl = $('messages');
const onlineEl = $('online');
const input = $('message-input');
const namePanel = $('name-panel');
const nameInput = $('name-input');

const myIds = new Set(); // every client id this page had (one per connection)
let state;
let rendered = false;
let joined = null; // the current connection's join call
let unread = 0;

function cleanName(v) {
  return typeof v === 'string' ? v.replace(/\s+/g, ' ').trim().slice(0, 32) : '';
}

function storedName() {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null; // storage disabled
  }
}

let name = cleanName(new URLSearchParams(location.search).get('name')) || cleanName(storedName());

// ---- rooms ----

$('room').textContent = room;
input.placeholder = `Message #${room}`;
document.title = `#${room} · Zocket chat`;

function roomHref(r) {
  const q = new URLSearchParams(location.search);
  q.set('room', r);
  return `?${q}`;
}

for (const r of ROOMS.includes(room) ? ROOMS : [...ROOMS, room]) {
  $('rooms').append(h('a', { href: roomHref(r), 'aria-current': r === room ? 'page' : null }, `#${r}`));
}

$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const r = $('room-input').value.trim();
  if (/^[A-Za-z0-9_-]{1,64}$/.test(r)) location.search = roomHref(r);
  else toast('Room names use letters, digits, - and _.');
});

// ---- name and joining ----

function showName() {
  $('me').textContent = name || '…';
}

function askName() {
  nameInput.value = name;
  namePanel.hidden = false;
  nameInput.focus();
}

function join() {
  if (!name || !client.clientId) return null;
  joined = chat.call('join', { name }).then(
    () => true,
    (err) => {
      toast(`Could not join: ${errorText(err)}`);
      return false;
    },
  );
  return joined;
}

$('name-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const v = cleanName(nameInput.value);
  if (!v) return;
  name = v;
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // not remembered, still used
  }
  namePanel.hidden = true;
  showName();
  join();
  input.focus();
});
$('rename').addEventListener('click', askName);

// Every connection is a new client to the server: join again after each
// welcome, so the online list shows us after a reconnect too.
client.onWelcome((id) => {
  myIds.add(id);
  joined = null;
  join();
  renderOnline();
});

showName();
if (!name) askName();

// ---- messages ----

const nodes = new Map(); // message key -> <li>
const eventOnly = new Map(); // messages seen as events but not yet in state
const emptyEl = h('li', { class: 'empty' }, 'No messages yet. Say hi!');

const keyOf = (m) => String(m?.id ?? `${m?.from}|${m?.at}|${m?.text}`);

function timeOf(at) {
  const d = new Date(typeof at === 'number' ? at : Date.parse(at));
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function messageNode(m) {
  const mine = myIds.has(m.from);
  const who = mine ? 'you' : String(m.name || 'someone');
  return h(
    'li',
    { class: `message${mine ? ' mine' : ''}${rendered ? ' fresh' : ''}`, dataset: { id: keyOf(m), from: String(m.from ?? '') } },
    h('div', { class: 'meta' }, [who, timeOf(m.at)].filter(Boolean).join(' · ')),
    h('div', { class: 'bubble' }, String(m.text ?? '')),
  );
}

function renderMessages() {
  const fromState = Array.isArray(state?.messages) ? state.messages.filter((m) => m && typeof m === 'object') : [];
  const inState = new Set(fromState.map(keyOf));
  for (const k of eventOnly.keys()) if (inState.has(k)) eventOnly.delete(k);
  const wanted = [...fromState, ...eventOnly.values()];

  const stick = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 80;
  emptyEl.remove();
  const keep = new Set();
  let cursor = messagesEl.firstChild;
  for (const m of wanted) {
    const k = keyOf(m);
    if (keep.has(k)) continue;
    keep.add(k);
    let node = nodes.get(k);
    if (!node) {
      node = messageNode(m);
      nodes.set(k, node);
    }
    if (node === cursor) cursor = cursor.nextSibling;
    else messagesEl.insertBefore(node, cursor);
  }
  for (const [k, node] of nodes) {
    if (!keep.has(k)) {
      node.remove();
      nodes.delete(k);
    }
  }
  if (wanted.length === 0) messagesEl.append(emptyEl);
  if (stick || !rendered) messagesEl.scrollTop = messagesEl.scrollHeight;
  rendered = true;
}

function renderOnline() {
  const online = Array.isArray(state?.online) ? state.online.filter((p) => p && typeof p === 'object') : [];
  onlineEl.replaceChildren(
    ...online.map((p) =>
      h(
        'li',
        { dataset: { clientId: String(p.clientId ?? '') } },
        String(p.name || 'someone'),
        p.clientId === client.clientId ? h('span', { class: 'you' }, '(you)') : null,
      ),
    ),
  );
  $('online-count').textContent = online.length ? `(${online.length})` : '';
}

chat.subscribeState((s, info) => {
  state = s;
  if (info.snapshot) eventOnly.clear(); // a snapshot is the whole truth
  renderMessages();
  renderOnline();
  document.body.dataset.ready = 'true';
});

chat.on('newMessage', (m) => {
  if (!m || typeof m !== 'object') return;
  const k = keyOf(m);
  if (!nodes.has(k)) {
    eventOnly.set(k, m);
    if (eventOnly.size > 50) eventOnly.delete(eventOnly.keys().next().value);
    renderMessages();
  }
  if (document.hidden && !myIds.has(m.from)) {
    unread++;
    document.title = `(${unread}) #${room} · Zocket chat`;
  }
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && unread) {
    unread = 0;
    document.title = `#${room} · Zocket chat`;
  }
});

$('send-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  if (!name) {
    askName();
    return;
  }
  input.value = '';
  if (!joined) join();
  if (joined && !(await joined)) {
    input.value ||= text;
    return;
  }
  try {
    const m = await chat.call('send', { text });
    if (m && typeof m === 'object' && !nodes.has(keyOf(m))) {
      eventOnly.set(keyOf(m), m); // show it now, whichever of event or patch comes later
      renderMessages();
    }
  } catch (err) {
    input.value ||= text; // give the text back to retry
    toast(errorText(err));
  }
});
