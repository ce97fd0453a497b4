// The Zocket inspector: polls ./api once a second and renders the engine's
// snapshot. No dependencies; the token (if any) comes from ?token= and is
// sent as a bearer token.

const token = new URLSearchParams(location.search).get('token');
const headers = token ? { Authorization: 'Bearer ' + token } : {};
const $ = (id) => document.getElementById(id);

let selected = null; // "actor/id" of the instance whose state is shown
let shownState = null; // the JSON text rendered in #state, to skip redraws
const collapsed = new Set(); // tree paths the user closed

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fmtDuration(ns) {
  if (!ns) return '0';
  if (ns < 1e3) return ns + ' ns';
  if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 1 : 0) + ' µs';
  if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 1 : 0) + ' ms';
  return (ns / 1e9).toFixed(1) + ' s';
}

function setStatus(status, text) {
  const s = $('status');
  s.dataset.status = status;
  s.textContent = text;
}

// replaceRows swaps tbody's rows for rows, keeping it as it is when the
// rows' text did not change (no flicker, selections survive).
function replaceRows(tbody, rows) {
  const key = rows.map((r) => r.dataset.key + '\u0000' + (r.dataset.selected ?? '') + r.textContent).join('\u0001');
  if (tbody.dataset.rendered === key) return;
  tbody.dataset.rendered = key;
  tbody.replaceChildren(...rows);
}

// tree renders a JSON value as nested <details>, open unless the user
// closed that path.
function tree(value, key, path) {
  const label = key === null ? [] : [el('span', { class: 'key' }, key), ': '];
  if (value !== null && typeof value === 'object') {
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    const d = el('details', { dataset: { path } });
    d.open = !collapsed.has(path);
    d.addEventListener('toggle', () => (d.open ? collapsed.delete(path) : collapsed.add(path)));
    const summary = isArray ? `[${entries.length}]` : `{${entries.length}}`;
    d.append(el('summary', {}, ...label, el('span', { class: 'muted' }, summary)));
    const list = el('div', { class: 'children' });
    for (const [k, v] of entries) list.append(tree(v, k, path + '/' + k));
    d.append(list);
    return d;
  }
  const type = value === null ? 'null' : typeof value;
  return el('div', { class: 'leaf' }, ...label, el('span', { class: 'v-' + type }, JSON.stringify(value)));
}

function renderState(inst) {
  $('selected').textContent = inst ? `${inst.actor}/${inst.id}` : '–';
  const text = inst ? (inst.state === null ? `(${inst.stateBytes} bytes: too large to show)` : JSON.stringify(inst.state)) : '';
  const key = (inst ? inst.actor + '/' + inst.id : '') + '\u0000' + text;
  if (key === shownState) return;
  shownState = key;
  const box = $('state');
  if (!inst) box.replaceChildren(el('p', { class: 'muted' }, 'No instance selected.'));
  else if (inst.state === null) box.replaceChildren(el('p', { class: 'muted' }, text));
  else box.replaceChildren(tree(inst.state, null, ''));
}

function render(snap) {
  if (!snap.serving) {
    setStatus('standby', 'Not serving');
    return;
  }
  const last = snap.rate[snap.rate.length - 2] ?? { calls: 0, p99: 0 }; // the last complete second
  $('n-instances').textContent = snap.instancesTotal;
  $('n-sessions').textContent = snap.sessionsTotal;
  $('n-rate').textContent = last.calls;
  $('n-p99').textContent = fmtDuration(last.p99);

  $('types').replaceChildren(...snap.types.map((t) =>
    el('li', {}, el('b', {}, t.name), ` ${t.instances} live · `, el('span', { class: 'muted' }, t.methods.join(', ') || 'no methods'))));

  $('sessions-note').textContent = snap.sessions.length < snap.sessionsTotal ? `(${snap.sessions.length} of ${snap.sessionsTotal})` : '';
  replaceRows($('sessions'), snap.sessions.map((s) =>
    el('tr', { dataset: { key: s.id } }, el('td', { class: 'mono' }, s.id), el('td', {}, s.instances), el('td', {}, s.subscriptions), el('td', {}, s.queued))));

  const instances = snap.instances;
  if (!instances.some((i) => i.actor + '/' + i.id === selected)) selected = instances.length ? instances[0].actor + '/' + instances[0].id : null;
  $('instances-note').textContent = instances.length < snap.instancesTotal ? `(${instances.length} of ${snap.instancesTotal})` : '';
  replaceRows($('instances'), instances.map((i) => {
    const key = i.actor + '/' + i.id;
    const tr = el('tr', { dataset: { key, selected: String(key === selected) } },
      el('td', {}, i.actor), el('td', { class: 'mono' }, i.id), el('td', {}, i.clients), el('td', {}, i.stateSubscribers),
      el('td', {}, i.eventSubscribers), el('td', {}, i.queued + (i.running ? ' ▶' : '')), el('td', {}, i.idleFor ? fmtDuration(i.idleFor) : ''));
    tr.addEventListener('click', () => { selected = key; render(snap); });
    return tr;
  }));
  renderState(instances.find((i) => i.actor + '/' + i.id === selected));

  $('calls-note').textContent = `(${snap.callsTotal} in all)`;
  const calls = snap.calls.slice().reverse(); // newest first
  const list = $('calls');
  const top = calls.length ? calls[0].at + calls.length + snap.callsTotal : '';
  if (list.dataset.top !== top) {
    list.dataset.top = top;
    list.replaceChildren(...calls.map((c) => el('li', { class: c.error ? 'err' : 'ok' },
      el('time', {}, new Date(c.at).toLocaleTimeString()), ' ',
      el('span', { class: 'mono' }, `${c.actor}/${c.actorId}`), '.', el('b', {}, c.method), ' ',
      el('span', { class: 'lat' }, fmtDuration(c.latency)), ' ',
      el('span', { class: 'outcome' }, c.error ? '✗ ' + c.error : '✓ ok'))));
  }

  const rates = snap.rate.slice(0, -1); // the current second is not over
  drawChart($('rate-chart'), rates.map((p) => p.calls), (v) => String(Math.round(v)), $('rate-max'));
  drawChart($('p99-chart'), rates.map((p) => p.p99), fmtDuration, $('p99-max'));
}

function drawChart(canvas, values, fmt, maxLabel) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(canvas);
  const max = Math.max(...values, 0);
  maxLabel.textContent = 'max ' + fmt(max);
  ctx.strokeStyle = style.getPropertyValue('--grid');
  ctx.lineWidth = 1;
  for (const f of [0.25, 0.5, 0.75]) {
    ctx.beginPath();
    ctx.moveTo(0, Math.round(h * f) + 0.5);
    ctx.lineTo(w, Math.round(h * f) + 0.5);
    ctx.stroke();
  }
  if (values.length < 2) return;
  const x = (i) => (i / (values.length - 1)) * w;
  const y = (v) => h - 2 - (max ? (v / max) * (h - 6) : 0);
  ctx.beginPath();
  ctx.moveTo(0, h);
  values.forEach((v, i) => ctx.lineTo(x(i), y(v)));
  ctx.lineTo(w, h);
  ctx.closePath();
  ctx.fillStyle = style.getPropertyValue('--fill');
  ctx.fill();
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.strokeStyle = style.getPropertyValue('--line');
  ctx.lineWidth = 1.5;
  ctx.stroke();
}

async function poll() {
  try {
    const res = await fetch('api', { headers, cache: 'no-store' });
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
    const snap = await res.json();
    window.inspectorSnapshot = snap; // for tests and the console
    render(snap);
    if (snap.serving) setStatus('open', 'Live');
    document.body.dataset.ready = 'true';
  } catch (err) {
    setStatus('error', 'Error: ' + err.message);
  }
  setTimeout(poll, 1000);
}

poll();
