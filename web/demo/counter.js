// Counter demo: actor "counter", id from ?id= (default "main").
// State {count, viewers}; methods increment, decrement, reset, set {value}.
import { $, errorText, param, start } from '/demo.js';

const id = param('id', 'main');
const client = start();
const counter = client.actor('counter', id);

const countEl = $('count');
const viewersEl = $('viewers');
const errorEl = $('error');
$('actor-id').textContent = id;
document.title = `Counter ${id} · Zocket`;

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

counter.subscribeState((state) => {
  const count = num(state?.count);
  const text = count === null ? '–' : String(count);
  if (countEl.textContent !== text) {
    countEl.textContent = text;
    countEl.classList.remove('bump');
    void countEl.offsetWidth; // restart the animation
    countEl.classList.add('bump');
  }
  const viewers = num(state?.viewers) ?? 0;
  viewersEl.textContent = String(viewers);
  $('viewers-label').textContent = viewers === 1 ? 'viewer' : 'viewers';
  document.body.dataset.ready = 'true';
});

async function run(method, input) {
  errorEl.hidden = true;
  try {
    return await counter.call(method, input);
  } catch (err) {
    errorEl.textContent = errorText(err);
    errorEl.hidden = false;
    return undefined;
  }
}

$('increment').addEventListener('click', () => run('increment'));
$('decrement').addEventListener('click', () => run('decrement'));
$('reset').addEventListener('click', () => run('reset'));
$('set-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('set-input');
  const value = Number(input.value);
  if (input.value.trim() === '' || !Number.isInteger(value)) {
    errorEl.textContent = 'Enter a whole number.';
    errorEl.hidden = false;
    return;
  }
  if ((await run('set', { value })) !== undefined) input.value = '';
});

// Keyboard: + and - when not typing in the input.
addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === '+' || e.key === '=') run('increment');
  else if (e.key === '-') run('decrement');
});
