// Shared plumbing of the demo pages: one client per page, the status badge,
// the reconnect banner, URL parameters and small DOM helpers.

import { connect } from '/zocket.js';

const statusText = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

/**
 * param returns a URL query parameter that is safe as an actor id (letters,
 * digits, "-" and "_", at most 64 characters), or fallback.
 */
export function param(name, fallback) {
  const v = new URLSearchParams(location.search).get(name);
  return v !== null && /^[A-Za-z0-9_-]{1,64}$/.test(v) ? v : fallback;
}

/** $ returns the element with this id, or throws: pages and scripts must agree. */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: no element #${id}`);
  return el;
}

/**
 * h builds an element: h('li', {class: 'x', dataset: {id: '1'}}, 'text', child).
 * Text is always set as text, never parsed as HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

let toastTimer;

/** toast shows a short message at the bottom of the page. */
export function toast(message) {
  let el = document.getElementById('toast');
  if (!el) {
    el = h('div', { id: 'toast', class: 'toast', role: 'status' });
    document.body.append(el);
  }
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

/** errorText turns a rejected call into a line a person can read. */
export function errorText(err) {
  switch (err?.name) {
    case 'RpcError':
      return err.message;
    case 'TimeoutError':
      return 'The server did not answer in time.';
    case 'DisconnectedError':
      return 'The connection dropped; try again.';
    default:
      return err?.message ?? String(err);
  }
}

/**
 * start connects to the server that served the page (the WebSocket endpoint
 * is "/" on the same host), passing ?token= through, and wires the status
 * badge (#status), the reconnect banner and the client id (#client-id). The
 * client is also window.zocketClient, for tests and the console.
 */
export function start() {
  const token = new URLSearchParams(location.search).get('token');
  // Retry quickly: a dev server restart should be over in a few seconds.
  const client = connect(undefined, { token, reconnect: { minDelayMs: 250, maxDelayMs: 4000 } });
  window.zocketClient = client;

  const badge = document.getElementById('status');
  const banner = h('div', { id: 'banner', class: 'banner', role: 'status', hidden: true });
  document.querySelector('.topbar')?.after(banner);
  const clientIdEl = document.getElementById('client-id');

  let countdown;
  let lostAt = 0;
  const render = (status, info = {}) => {
    if (clientIdEl) clientIdEl.textContent = (status === 'open' && client.clientId) || '—';
    document.body.dataset.status = status;
    if (badge) {
      badge.dataset.status = status;
      badge.textContent = statusText[status] ?? status;
      badge.title = status === 'open' && client.clientId ? `client id ${client.clientId}` : '';
    }
    clearInterval(countdown); // also clears the "reconnected" timeout
    banner.dataset.status = status;
    if (status === 'reconnecting') {
      const at = Date.now() + (info.delayMs ?? 0);
      const tick = () => {
        const s = Math.max(0, Math.ceil((at - Date.now()) / 1000));
        banner.textContent =
          s > 0
            ? `Connection lost. Reconnecting in ${s}s… (attempt ${info.attempt})`
            : `Connection lost. Reconnecting… (attempt ${info.attempt})`;
      };
      tick();
      countdown = setInterval(tick, 500);
      banner.hidden = false;
    } else if (status === 'closed') {
      banner.textContent = 'Disconnected. Reload the page to connect again.';
      banner.hidden = false;
    } else if (status === 'open' && info.previous === 'reconnecting') {
      // Say so when we are back, then get out of the way.
      banner.textContent = `Reconnected after ${Math.max(1, Math.round((Date.now() - lostAt) / 1000))}s.`;
      banner.hidden = false;
      countdown = setTimeout(() => {
        banner.hidden = true;
      }, 2500);
    } else {
      banner.hidden = true;
    }
    if (status === 'reconnecting' && info.attempt === 1) lostAt = Date.now();
  };
  render(client.status);
  client.onStatus(render);
  client.onWelcome((id) => {
    if (clientIdEl) clientIdEl.textContent = id;
    if (badge) badge.title = `client id ${id}`;
  });

  // Mark the current page in the top navigation.
  for (const a of document.querySelectorAll('.topbar nav a')) {
    if (new URL(a.href).pathname === location.pathname) a.setAttribute('aria-current', 'page');
  }
  // Leave promptly so other viewers see us go; a page restored from the
  // back/forward cache starts over with a fresh connection.
  addEventListener('pagehide', () => client.close());
  addEventListener('pageshow', (e) => {
    if (e.persisted) location.reload();
  });
  return client;
}
