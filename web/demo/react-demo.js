// React demo: the counter actor (id from ?id=, default "main") rendered with
// the client's React bindings, without a bundler or JSX: React comes from the
// UMD builds the page loads (window.React, window.ReactDOM), and
// /react-core.js binds the hooks to it. With a bundler, import the same
// hooks from '@zocket-go/client/react'.
//
// Each panel selects its own part of the state, so a count change re-renders
// the count panel only and a new viewer the viewers panel only; each shows
// how often it rendered (data-renders, for tests too).
import { connect } from '/zocket.js';
import { bindReact } from '/react-core.js';
import { errorText, param } from '/demo.js';

const { React, ReactDOM } = window;
const { ZocketProvider, useActor, useActorState, useClientId, useConnectionStatus, useEvent } = bindReact(React);
const { StrictMode, createElement: h, useEffect, useRef, useState } = React;

const statusText = { connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…', closed: 'Offline' };
const id = param('id', 'main');

// One client for the page, made outside React (never during rendering).
const token = new URLSearchParams(location.search).get('token');
const client = connect(undefined, { token, reconnect: { minDelayMs: 250, maxDelayMs: 4000 } });
window.zocketClient = client; // for tests and the console
addEventListener('pagehide', () => client.close());
addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload();
});

// useRenders counts how often the component rendered.
function useRenders() {
  const n = useRef(0);
  n.current++;
  return n.current;
}

function StatusBadge() {
  const status = useConnectionStatus();
  const clientId = useClientId();
  useEffect(() => {
    document.body.dataset.status = status;
  }, [status]);
  return h(
    'span',
    { id: 'status', className: 'status', 'data-status': status, role: 'status', title: clientId ? `client id ${clientId}` : '' },
    statusText[status] ?? status,
  );
}

function ClientId() {
  return useClientId() ?? '—';
}

function Count({ counter }) {
  const count = useActorState(counter, (s) => s.count);
  const renders = useRenders();
  useEffect(() => {
    if (count !== undefined) document.body.dataset.ready = 'true';
  }, [count]);
  return h(
    'div',
    { id: 'count-panel', 'data-renders': renders },
    h('output', { id: 'count', className: 'big-number', 'aria-live': 'polite' }, count === undefined ? '–' : String(count)),
    h('p', { className: 'muted' }, `count panel rendered ${renders}×`),
  );
}

function Viewers({ counter }) {
  const viewers = useActorState(counter, (s) => s.viewers);
  const renders = useRenders();
  return h(
    'p',
    { id: 'viewers-panel', className: 'viewers', 'data-renders': renders },
    h('span', { id: 'viewers' }, String(viewers ?? 0)),
    ` ${viewers === 1 ? 'viewer' : 'viewers'} right now `,
    h('span', { className: 'muted' }, `(rendered ${renders}×)`),
  );
}

function Buttons({ counter, onError }) {
  const run = (method) => {
    onError(null);
    counter.call(method).catch((err) => onError(errorText(err)));
  };
  return h(
    'div',
    { className: 'counter-buttons' },
    h('button', { id: 'decrement', type: 'button', 'aria-label': 'Decrement', onClick: () => run('decrement') }, '−1'),
    h('button', { id: 'increment', type: 'button', className: 'primary', 'aria-label': 'Increment', onClick: () => run('increment') }, '+1'),
  );
}

// Changes lists the last "changed" events: events arrive to the components
// that listen while they are mounted, state or not.
function Changes({ counter }) {
  const me = useClientId();
  const [changes, setChanges] = useState([]);
  useEvent(counter, 'changed', (change) => setChanges((list) => [change, ...list].slice(0, 5)));
  if (changes.length === 0) return h('p', { id: 'changes-empty', className: 'muted' }, 'Changes made while this page is open appear here.');
  return h(
    'ul',
    { id: 'changes', className: 'list' },
    changes.map((c, i) =>
      h('li', { key: changes.length - i }, `${c.count} `, h('span', { className: 'muted' }, c.by === me ? 'by you' : `by ${c.by}`)),
    ),
  );
}

function App() {
  const counter = useActor('counter', id);
  const [error, setError] = useState(null);
  return h(
    React.Fragment,
    null,
    ReactDOM.createPortal(h(StatusBadge), document.querySelector('.topbar')),
    ReactDOM.createPortal(h(ClientId), document.getElementById('client-id')),
    h(
      'section',
      { className: 'card counter-card', 'aria-labelledby': 'count-label' },
      h('p', { className: 'eyebrow', id: 'count-label' }, 'counter ', h('code', { id: 'actor-id' }, id), ' · React'),
      h(Count, { counter }),
      h(Viewers, { counter }),
      h(Buttons, { counter, onError: setError }),
      error && h('p', { id: 'error', className: 'error', role: 'alert' }, error),
    ),
    h('section', { className: 'card changes' }, h('h2', null, 'Recent changes'), h(Changes, { counter })),
    h(
      'p',
      { className: 'hint' },
      'The same counter as the ',
      h('a', { href: `/counter.html?id=${id}` }, 'plain page'),
      ', rendered with useActor, useActorState, useEvent and useConnectionStatus from the client\u2019s React bindings.',
    ),
  );
}

const root = document.getElementById('root');
root.textContent = '';
document.getElementById('client-id').textContent = '';
ReactDOM.createRoot(root).render(h(StrictMode, null, h(ZocketProvider, { client }, h(App))));
