// React bindings (react.js) in a DOM (happy-dom) against a real server: the
// demo app's `zocket serve`, built from this checkout with `go build` (or the
// server at $ZOCKET_TEST_URL). Each client's WebSocket records the frames it
// sends, so the tests check what the server receives: one state:sub however
// many components and StrictMode mounts, one state:unsub after the last.
//
// Needs `npm ci` here (react, react-dom, happy-dom, ws) and Go; without them
// the tests skip, except under CI (CI=true), where they fail.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

import { connect } from '../zocket.js';

const WAIT_MS = 10_000; // upper bound for anything the tests wait for

// ---- dependencies: a DOM first, then React DOM (which looks for it at load) ----

async function loadDeps() {
  try {
    const { Window } = await import('happy-dom');
    const window = new Window({ url: 'http://localhost/' });
    globalThis.window = window;
    globalThis.document = window.document;
    if (typeof globalThis.navigator === 'undefined') globalThis.navigator = window.navigator; // Node 20 has none
    const React = (await import('react')).default;
    const { createRoot } = (await import('react-dom/client')).default;
    const { default: WebSocket } = await import('ws');
    const bindings = await import('../react.js');
    return { window, React, createRoot, WebSocket, ...bindings };
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return { missing: `${err.message.split('\n')[0]}: run npm ci in web/client` };
  }
}

const deps = await loadDeps();

// ---- the server ----

function startServer() {
  if (process.env.ZOCKET_TEST_URL) return Promise.resolve({ url: process.env.ZOCKET_TEST_URL, stop: async () => {} });
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'zocket-react-test-'));
  const bin = join(dir, 'zocket');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const build = spawn('go', ['build', '-o', bin, './cmd/zocket'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    build.on('error', (err) => {
      cleanup();
      reject(err);
    });
    build.on('exit', (code) => {
      if (code !== 0) {
        cleanup();
        reject(new Error(`go build ./cmd/zocket exited with ${code}`));
        return;
      }
      const proc = spawn(bin, ['serve', '-host', '127.0.0.1', '-port', '0', '-log-level', 'warn'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((r) => proc.on('exit', r));
      const timer = setTimeout(() => {
        proc.kill();
        reject(new Error('zocket serve printed no ws:// address'));
      }, WAIT_MS);
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const m = /(ws:\/\/\S+?\/)/.exec(line);
        if (!m) return;
        clearTimeout(timer);
        resolve({
          url: m[1],
          stop: async () => {
            proc.kill('SIGTERM');
            await exited;
            cleanup();
          },
        });
      });
      proc.on('error', reject);
    });
  });
}

let server = null;
let skipReason = deps.missing ?? null;

before(async () => {
  if (skipReason) return;
  try {
    server = await startServer();
  } catch (err) {
    if (err?.code !== 'ENOENT') throw err;
    skipReason = 'go is not installed; set ZOCKET_TEST_URL to a running zocket serve';
  }
  if (skipReason && process.env.CI) throw new Error(`React tests cannot run under CI: ${skipReason}`);
});

after(async () => {
  await server?.stop();
});

if (skipReason && process.env.CI) throw new Error(`React tests cannot run under CI: ${skipReason}`);

// ---- helpers ----

let seq = 0;
const unique = (name) => `react-${name}-${process.pid}-${Date.now()}-${++seq}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn) {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// recorder returns a WebSocket class that records every frame sent and
// received, and the client connected through it.
function recordedClient(t, options = {}) {
  const sent = [];
  const received = [];
  const sockets = [];
  class RecordingWebSocket extends deps.WebSocket {
    constructor(url) {
      super(url);
      sockets.push(this);
      this.addEventListener('message', (ev) => received.push(JSON.parse(String(ev.data))));
    }
    send(data) {
      sent.push(JSON.parse(data));
      super.send(data);
    }
  }
  const errors = [];
  const client = connect(server.url, {
    WebSocket: RecordingWebSocket,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
    onError: (err) => errors.push(err),
    ...options,
  });
  t.after(() => {
    client.close();
    assert.deepEqual(errors, [], 'the client reported errors');
  });
  const count = (frames, type, actorId) => frames.filter((f) => f.type === type && f.actorId === actorId).length;
  return {
    client,
    sockets,
    sent: (type, actorId) => count(sent, type, actorId),
    received: (type, actorId) => count(received, type, actorId),
  };
}

function mount(t, element, options) {
  const container = deps.window.document.createElement('div');
  deps.window.document.body.append(container);
  const root = deps.createRoot(container, options);
  root.render(element);
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    root.unmount();
    container.remove();
  };
  t.after(unmount);
  return {
    root,
    unmount,
    texts: (sel) => [...container.querySelectorAll(sel)].map((el) => el.textContent),
    text: (sel) => container.querySelector(sel)?.textContent,
  };
}

// rt runs a test that needs the server, and fails it if React (or anything
// else) wrote to console.error meanwhile: React's warnings go there.
function rt(name, fn) {
  test(name, async (t) => {
    if (skipReason) {
      t.skip(skipReason);
      return;
    }
    const logged = [];
    const consoleError = console.error;
    console.error = (...args) => logged.push(args.map(String).join(' '));
    try {
      await fn(t);
    } finally {
      console.error = consoleError;
    }
    assert.deepEqual(logged, [], 'console.error');
  });
}

const h = (...args) => deps.React.createElement(...args);

// ---- tests ----

rt('StrictMode: one state:sub for two components mounted twice each, one state:unsub after both unmount', async (t) => {
  const { React, ZocketProvider, useActor, useActorState, subscriptions } = deps;
  const { client, sent, received } = recordedClient(t);
  await client.ready;
  const id = unique('strict');
  const counter = client.actor('counter', id);

  function Count() {
    const actor = useActor('counter', id);
    const count = useActorState(actor, (s) => s.count);
    return h('span', { className: 'count' }, count === undefined ? '…' : String(count));
  }
  const m = mount(t, h(React.StrictMode, null, h(ZocketProvider, { client }, h(Count), h(Count))));

  await waitFor('both show 0', () => m.texts('.count').join() === '0,0');
  assert.equal(sent('state:sub', id), 1, 'state:sub frames');
  assert.equal(sent('state:unsub', id), 0, 'state:unsub frames');
  assert.deepEqual(subscriptions(counter).state, { users: 2, held: true });

  await counter.call('increment');
  await waitFor('both show 1', () => m.texts('.count').join() === '1,1');

  m.unmount();
  assert.equal(subscriptions(counter).state.users, 0);
  await waitFor('state:unsub', () => sent('state:unsub', id) === 1);
  assert.equal(subscriptions(counter).state.held, false);
  assert.equal(counter.state, undefined, 'the client dropped its copy');

  // The server stopped sending patches: a change by another client reaches
  // this one no more.
  const patches = received('state:patch', id);
  const other = recordedClient(t);
  await other.client.actor('counter', id).call('increment');
  await sleep(200);
  assert.equal(received('state:patch', id), patches, 'patches after state:unsub');
  assert.equal(sent('state:sub', id), 1, 'state:sub frames in all');
});

rt('a remount in the same commit (new key) keeps the subscription; a later mount subscribes again', async (t) => {
  const { ZocketProvider, useActor, useActorState } = deps;
  const { client, sent } = recordedClient(t);
  await client.ready;
  const id = unique('remount');

  function Count() {
    const count = useActorState(useActor('counter', id), (s) => s.count);
    return h('span', { className: 'count' }, count === undefined ? '…' : String(count));
  }
  const app = (key) => h(ZocketProvider, { client }, h(Count, { key }));
  const m = mount(t, app('a'));
  await waitFor('0', () => m.text('.count') === '0');
  m.root.render(app('b')); // unmounts one Count and mounts another
  await waitFor('the new component', () => m.text('.count') === '0');
  await sleep(50); // a release would have gone out by now
  assert.equal(sent('state:sub', id), 1);
  assert.equal(sent('state:unsub', id), 0);

  m.root.render(h(ZocketProvider, { client }, null));
  await waitFor('state:unsub', () => sent('state:unsub', id) === 1);
  m.root.render(app('c'));
  await waitFor('0 again', () => m.text('.count') === '0');
  assert.equal(sent('state:sub', id), 2);
});

rt('selectors: each component re-renders only when its selection changes', async (t) => {
  const { ZocketProvider, useActor, useActorState, shallowEqual } = deps;
  const { client } = recordedClient(t);
  await client.ready;
  const id = unique('select');
  const renders = { count: 0, viewers: 0, pair: 0, whole: 0 };

  function Count() {
    renders.count++;
    const count = useActorState(useActor('counter', id), (s) => s.count);
    return h('span', { className: 'count' }, String(count));
  }
  function Viewers() {
    renders.viewers++;
    const viewers = useActorState(useActor('counter', id), (s) => s.viewers);
    return h('span', { className: 'viewers' }, String(viewers));
  }
  function Pair() {
    renders.pair++;
    // A new object on every call: shallowEqual keeps the previous one.
    const pair = useActorState(useActor('counter', id), (s) => ({ count: s.count }), shallowEqual);
    return h('span', { className: 'pair' }, pair === undefined ? '…' : `count=${pair.count}`);
  }
  function Whole() {
    renders.whole++;
    const state = useActorState(useActor('counter', id));
    return h('span', { className: 'whole' }, state === undefined ? '…' : JSON.stringify(state));
  }
  const m = mount(t, h(ZocketProvider, { client }, h(Count), h(Viewers), h(Pair), h(Whole)));
  await waitFor('first state', () => m.text('.whole') === '{"count":0,"viewers":1}');
  await waitFor('others', () => m.text('.count') === '0' && m.text('.viewers') === '1' && m.text('.pair') === 'count=0');
  const before = { ...renders };

  // The count changes: viewers' component stays as it is.
  const counter = client.actor('counter', id);
  await counter.call('increment');
  await counter.call('increment');
  await waitFor('count 2', () => m.text('.count') === '2' && m.text('.pair') === 'count=2');
  assert.equal(renders.viewers, before.viewers, 'Viewers re-rendered on a count change');
  assert.ok(renders.count > before.count && renders.pair > before.pair);

  // Another viewer arrives: count's components stay as they are.
  const mid = { ...renders };
  const other = recordedClient(t);
  other.client.actor('counter', id).subscribeState(() => {});
  await waitFor('viewers 2', () => m.text('.viewers') === '2');
  await waitFor('whole', () => m.text('.whole') === '{"count":2,"viewers":2}');
  assert.equal(renders.count, mid.count, 'Count re-rendered on a viewers change');
  assert.equal(renders.pair, mid.pair, 'Pair (shallowEqual) re-rendered on a viewers change');
  assert.ok(renders.viewers > mid.viewers && renders.whole > mid.whole);
});

rt('useEvent: one event:sub under StrictMode, the latest listener is called, event:unsub on unmount', async (t) => {
  const { React, ZocketProvider, useActor, useEvent, subscriptions } = deps;
  const { client, sent } = recordedClient(t);
  await client.ready;
  const id = unique('event');
  const got = [];

  function Log({ tag }) {
    const actor = useActor('counter', id);
    useEvent(actor, 'changed', (change, info) => got.push(`${tag}:${change.count}:${info.event}`));
    return h('i', { className: 'tag' }, tag);
  }
  const app = (tag) => h(React.StrictMode, null, h(ZocketProvider, { client }, h(Log, { tag })));
  const m = mount(t, app('a'));
  const counter = client.actor('counter', id);
  await waitFor('event:sub', () => sent('event:sub', id) === 1);
  assert.deepEqual(subscriptions(counter).events, { changed: { users: 1, held: true } });

  await counter.call('increment'); // after event:sub on the same connection: the event comes
  await waitFor('first event', () => got.length === 1);
  m.root.render(app('b')); // a new listener function: no new subscription
  await waitFor('b committed', () => m.text('.tag') === 'b');
  await counter.call('increment');
  await waitFor('second event', () => got.length === 2);
  assert.deepEqual(got, ['a:1:changed', 'b:2:changed']);
  assert.equal(sent('event:sub', id), 1);
  assert.equal(sent('event:unsub', id), 0);

  m.unmount();
  await waitFor('event:unsub', () => sent('event:unsub', id) === 1);
  assert.deepEqual(subscriptions(counter).events, {});
  await counter.call('increment');
  await sleep(100);
  assert.equal(got.length, 2, 'events after unmount');
});

rt('an error thrown by one event listener reaches onError and the other listeners still run', async (t) => {
  const { ZocketProvider, useActor, useEvent } = deps;
  const reported = [];
  const { client, sent } = recordedClient(t, { onError: (err) => reported.push(err) });
  await client.ready;
  const id = unique('throw');
  const got = [];
  function Bad() {
    useEvent(useActor('counter', id), 'changed', () => {
      throw new Error('listener failed');
    });
    return null;
  }
  function Good() {
    useEvent(useActor('counter', id), 'changed', (c) => got.push(c.count));
    return null;
  }
  mount(t, h(ZocketProvider, { client }, h(Bad), h(Good)));
  await waitFor('event:sub', () => sent('event:sub', id) === 1);
  await client.actor('counter', id).call('increment');
  await waitFor('event', () => got.length === 1);
  assert.equal(reported.length, 1);
  assert.equal(reported[0].message, 'listener failed');
});

rt('changing the actor moves the subscription to the new one', async (t) => {
  const { ZocketProvider, useActor, useActorState } = deps;
  const { client, sent } = recordedClient(t);
  await client.ready;
  const a = unique('move-a');
  const b = unique('move-b');
  await client.actor('counter', b).call('set', { value: 7 });

  function Count({ id }) {
    const count = useActorState(useActor('counter', id), (s) => s.count);
    return h('span', { className: 'count' }, count === undefined ? '…' : String(count));
  }
  const m = mount(t, h(ZocketProvider, { client }, h(Count, { id: a })));
  await waitFor('a', () => m.text('.count') === '0');
  m.root.render(h(ZocketProvider, { client }, h(Count, { id: b })));
  await waitFor('b', () => m.text('.count') === '7');
  await waitFor('a released', () => sent('state:unsub', a) === 1);
  assert.equal(sent('state:sub', b), 1);
  assert.equal(sent('state:unsub', b), 0);
});

rt('useConnectionStatus and useClientId follow the connection through a reconnect and close', async (t) => {
  const { ZocketProvider, useActor, useActorState, useClientId, useConnectionStatus } = deps;
  const { client, sockets, sent } = recordedClient(t);
  const id = unique('status');
  const seen = [];

  function Status() {
    const status = useConnectionStatus();
    const clientId = useClientId();
    seen.push(status);
    return h('p', { className: 'status' }, `${status}|${clientId ?? ''}`);
  }
  function Count() {
    const count = useActorState(useActor('counter', id), (s) => s.count);
    return h('span', { className: 'count' }, count === undefined ? '…' : String(count));
  }
  const m = mount(t, h(ZocketProvider, { client }, h(Status), h(Count)));
  const first = await client.ready;
  await waitFor('open with the id', () => m.text('.status') === `open|${first}`);
  await waitFor('state', () => m.text('.count') === '0');

  sockets[0].terminate(); // the connection drops; the client reconnects
  await waitFor('reconnecting', () => seen.includes('reconnecting'));
  await waitFor('welcomed again', () => client.clientId !== null && client.clientId !== first);
  await waitFor('open with the new id', () => m.text('.status') === `open|${client.clientId}`);
  await client.actor('counter', id).call('increment');
  await waitFor('state after reconnect', () => m.text('.count') === '1');
  assert.equal(sent('state:sub', id), 2, 'one state:sub per connection');

  client.close();
  await waitFor('closed', () => m.text('.status') === 'closed|');
});

rt('useActorState(null) renders undefined and subscribes nothing; no provider is a clear error', async (t) => {
  const { ZocketProvider, useActorState, useClient } = deps;
  const { client } = recordedClient(t);
  let value = 'unset';
  function Nothing() {
    value = useActorState(null, (s) => s.count);
    return null;
  }
  mount(t, h(ZocketProvider, { client }, h(Nothing)));
  await waitFor('rendered', () => value !== 'unset');
  assert.equal(value, undefined);

  let caught = null;
  function Orphan() {
    useClient();
    return null;
  }
  mount(t, h(Orphan), { onUncaughtError: (err) => (caught = err) });
  await waitFor('error', () => caught);
  assert.match(caught.message, /ZocketProvider/);
});
