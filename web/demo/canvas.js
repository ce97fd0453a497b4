// Canvas demo: actor "canvas", id from ?id= (default "main").
// State {strokes: [{id, points, color, width, clientId}]}; methods stroke
// {points, color, width} and clear. Points are [x, y] normalized to 0..1 of
// the board, and width is in pixels of an 800-pixel-wide board, so boards of
// any size (the aspect ratio is fixed at 4:3) show the same drawing.
import { $, errorText, h, param, start, toast } from '/demo.js';

const REF_WIDTH = 800;
const MAX_POINTS = 1000; // longer strokes are sent in pieces
const MIN_STEP = 0.002; // skip points closer than this to the previous one
const COLORS = ['#1c1e24', '#e11d48', '#f59e0b', '#16a34a', '#2563eb', '#9333ea'];
const WIDTHS = [2, 4, 8, 16];

const id = param('id', 'main');
const client = start();
const board = client.actor('canvas', id);
$('actor-id').textContent = id;

const canvas = $('canvas');
const ctx = canvas.getContext('2d');

let color = COLORS[4];
let width = WIDTHS[1];
let strokes = []; // strokes of the last state, as received
let drawnFromState = []; // the state strokes currently painted, in order
const pending = new Set(); // strokes sent, waiting for their call to settle
const active = new Map(); // pointerId -> stroke being drawn

// ---- tools ----

function pressed(container, button) {
  for (const b of container.children) b.setAttribute('aria-pressed', String(b === button));
}

for (const c of COLORS) {
  const b = h('button', { type: 'button', class: 'swatch', title: c, 'aria-label': `Color ${c}`, dataset: { color: c } });
  b.style.background = c;
  b.addEventListener('click', () => {
    color = c;
    pressed($('colors'), b);
  });
  $('colors').append(b);
  if (c === color) pressed($('colors'), b);
}

for (const w of WIDTHS) {
  const dot = h('span');
  dot.style.width = dot.style.height = `${Math.max(3, w)}px`;
  const b = h('button', { type: 'button', class: 'width', 'aria-label': `Width ${w}`, dataset: { width: String(w) } }, dot);
  b.addEventListener('click', () => {
    width = w;
    pressed($('widths'), b);
  });
  $('widths').append(b);
  if (w === width) pressed($('widths'), b);
}

$('clear').addEventListener('click', async () => {
  try {
    await board.call('clear');
  } catch (err) {
    toast(errorText(err));
  }
});

// ---- painting ----

function valid(s) {
  return s && typeof s === 'object' && Array.isArray(s.points);
}

function paint(s) {
  if (!valid(s)) return;
  const pts = s.points.filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  if (pts.length === 0) return;
  const W = canvas.width;
  const H = canvas.height;
  const lw = Math.max(0.5, (Number.isFinite(s.width) && s.width > 0 ? s.width : 4) * (W / REF_WIDTH));
  ctx.strokeStyle = ctx.fillStyle = /^#[0-9a-f]{6}$/i.test(s.color) ? s.color : '#1c1e24';
  if (pts.length === 1) {
    ctx.beginPath();
    ctx.arc(pts[0][0] * W, pts[0][1] * H, lw / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  ctx.lineWidth = lw;
  ctx.beginPath();
  ctx.moveTo(pts[0][0] * W, pts[0][1] * H);
  for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0] * W, pts[i][1] * H);
  ctx.stroke();
}

function repaint() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const s of strokes) paint(s);
  drawnFromState = strokes.slice();
  for (const s of pending) paint(s);
  for (const s of active.values()) paint(s);
}

function resize() {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * dpr));
  const hgt = Math.max(1, Math.round(r.height * dpr));
  if (canvas.width !== w || canvas.height !== hgt) {
    canvas.width = w;
    canvas.height = hgt;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    repaint();
  }
}
ctx.lineCap = 'round';
ctx.lineJoin = 'round';
new ResizeObserver(resize).observe(canvas);
resize();

board.subscribeState((state) => {
  strokes = Array.isArray(state?.strokes) ? state.strokes : [];
  $('stroke-count').textContent = String(strokes.length);
  // Patches only append in the common case: paint just the new strokes.
  // States share unchanged strokes by identity, so a prefix check suffices.
  const n = drawnFromState.length;
  if (n <= strokes.length && drawnFromState.every((s, i) => strokes[i] === s)) {
    for (const s of strokes.slice(n)) paint(s);
    drawnFromState = strokes.slice();
  } else {
    repaint();
  }
  document.body.dataset.ready = 'true';
});

// ---- drawing ----

const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

function pointOf(e) {
  const r = canvas.getBoundingClientRect();
  return [round((e.clientX - r.left) / r.width), round((e.clientY - r.top) / r.height)];
}

function send(s) {
  if (s.points.length === 0) return;
  pending.add(s);
  board
    .call('stroke', { points: s.points, color: s.color, width: s.width })
    .catch((err) => {
      toast(`Stroke not saved: ${errorText(err)}`);
      pending.delete(s);
      repaint();
    })
    .finally(() => pending.delete(s));
}

function extend(s, p) {
  const last = s.points[s.points.length - 1];
  if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
  s.points.push(p);
  if (last) paint({ ...s, points: [last, p] });
  if (s.points.length >= MAX_POINTS) {
    send({ ...s, points: s.points.slice() });
    s.points = [p]; // continue seamlessly from the same point
  }
}

canvas.addEventListener('pointerdown', (e) => {
  if (e.pointerType === 'mouse' && e.button !== 0) return;
  e.preventDefault();
  canvas.setPointerCapture(e.pointerId);
  const s = { points: [], color, width };
  active.set(e.pointerId, s);
  extend(s, pointOf(e));
  paint(s);
});

canvas.addEventListener('pointermove', (e) => {
  const s = active.get(e.pointerId);
  if (!s) return;
  const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
  for (const ce of events.length ? events : [e]) extend(s, pointOf(ce));
});

function finish(e) {
  const s = active.get(e.pointerId);
  if (!s) return;
  active.delete(e.pointerId);
  send(s);
}
canvas.addEventListener('pointerup', finish);
canvas.addEventListener('pointercancel', finish);
canvas.addEventListener('contextmenu', (e) => e.preventDefault());
