// Client behaviour against an in-memory WebSocket double: the test plays the
// server side of each socket frame by frame, so every step is deterministic
// and nothing needs the network or an npm install.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  connect,
  DisconnectedError,
  RpcError,
  Status,
  SubscriptionError,
  TimeoutError,
  ZocketError,
} from '../zocket.js';

const WAIT_MS = 2000; // upper bound for anything the tests wait for

function deadline(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Queue is an async FIFO: push values, await next() for them in order.
class Queue {
  #items = [];
  #waiters = [];
  push(v) {
    const w = this.#waiters.shift();
    if (w) w(v);
    else this.#items.push(v);
  }
  next(what) {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift());
    return deadline(new Promise((resolve) => this.#waiters.push(resolve)), what);
  }
  get size() {
    return this.#items.length;
  }
}

// FakeNet hands the client a WebSocket constructor whose instances the test
// controls through their server-side methods (accept, push, drop, refuse).
class FakeNet {
  sockets = new Queue();
  all = [];

  constructor() {
    const net = this;
    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.frames = new Queue();
        this.closedWith = null;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        net.all.push(this);
        net.sockets.push(this);
      }
      send(data) {
        if (this.readyState !== 1) throw new Error('InvalidStateError: socket not open');
        assert.equal(typeof data, 'string', 'client must send text frames');
        this.frames.push(JSON.parse(data));
      }
      close(code, reason) {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        this.closedWith = { code, reason };
        setTimeout(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? '' }), 0);
      }
      // Server side.
      accept(clientId) {
        this.readyState = 1;
        this.onopen?.({});
        if (clientId !== undefined) this.push({ type: 'welcome', clientId });
      }
      push(frame) {
        this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
      }
      drop(code = 1006) {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code, reason: '' });
      }
      next(what = 'a frame from the client') {
        return this.frames.next(what);
      }
    };
  }

  next() {
    return this.sockets.next('the client to open a socket');
  }
}

// setup connects a client to a fresh FakeNet, accepts the first socket and
// returns everything a test needs. Every client is closed after its test.
async function setup(t, options = {}) {
  const net = new FakeNet();
  const errors = [];
  const client = connect('ws://zocket.test/', {
    WebSocket: net.WebSocket,
    reconnect: { minDelayMs: 1, maxDelayMs: 4 },
    onError: (err) => errors.push(err),
    ...options,
  });
  t.after(() => client.close());
  const socket = await net.next();
  socket.accept('c1');
  await deadline(client.ready, 'welcome');
  return { net, client, socket, errors };
}

function statusLog(client) {
  const log = [];
  const waiters = [];
  client.onStatus((status, info) => {
    log.push({ status, ...info });
    for (const w of waiters.splice(0)) w();
  });
  log.until = (status) =>
    deadline(
      (async () => {
        while (!log.some((e) => e.status === status)) await new Promise((r) => waiters.push(r));
      })(),
      `status ${status}`,
    );
  return log;
}

test('connect puts the token in the query, reports status and the welcome clientId', async (t) => {
  const net = new FakeNet();
  const client = connect('http://zocket.test/base?x=1#frag', { WebSocket: net.WebSocket, token: 'a b&c' });
  t.after(() => client.close());
  const statuses = statusLog(client);
  const welcomes = [];
  client.onWelcome((id) => welcomes.push(id));

  assert.equal(client.status, Status.CONNECTING);
  assert.equal(client.clientId, null);
  const socket = await net.next();
  const u = new URL(socket.url);
  assert.equal(u.protocol, 'ws:');
  assert.equal(u.pathname, '/base');
  assert.equal(u.searchParams.get('token'), 'a b&c');
  assert.equal(u.searchParams.get('x'), '1');
  assert.equal(u.hash, '');
  assert.equal(client.url, 'ws://zocket.test/base?x=1', 'url property must not carry the token');

  socket.accept();
  assert.equal(client.status, Status.OPEN);
  socket.push({ type: 'welcome', clientId: 'session-1' });
  assert.equal(await client.ready, 'session-1');
  assert.equal(client.clientId, 'session-1');
  assert.deepEqual(welcomes, ['session-1']);
  assert.deepEqual(
    statuses.map((e) => [e.status, e.previous]),
    [['open', 'connecting']],
  );
});

test('https URLs become wss, and a token function is asked on every attempt', async (t) => {
  const net = new FakeNet();
  let n = 0;
  const client = connect('https://zocket.test/', {
    WebSocket: net.WebSocket,
    token: async () => `t${++n}`,
    reconnect: { minDelayMs: 1, maxDelayMs: 1 },
  });
  t.after(() => client.close());
  const first = await net.next();
  assert.equal(first.url, 'wss://zocket.test/?token=t1');
  first.accept('c1');
  first.drop();
  const second = await net.next();
  assert.equal(second.url, 'wss://zocket.test/?token=t2');
});

test('connect without a WebSocket implementation fails clearly', () => {
  assert.throws(() => connect('ws://zocket.test/', { WebSocket: null }), /WebSocket/);
  assert.throws(() => connect('ftp://zocket.test/', { WebSocket: new FakeNet().WebSocket }), /scheme/);
  assert.throws(() => connect('ws://zocket.test/', { WebSocket: new FakeNet().WebSocket, rpcTimeoutMs: -1 }), /rpcTimeoutMs/);
});

test('call sends an rpc frame and resolves with the result', async (t) => {
  const { client, socket } = await setup(t);
  const counter = client.actor('counter', 'main');
  assert.equal(client.actor('counter', 'main'), counter, 'handles are cached per (type, id)');
  assert.equal(counter.type, 'counter');
  assert.equal(counter.id, 'main');

  const p = counter.call('set', { value: 7 });
  const frame = await socket.next();
  assert.deepEqual(frame, { type: 'rpc', id: frame.id, actor: 'counter', actorId: 'main', method: 'set', input: { value: 7 } });
  assert.equal(typeof frame.id, 'string');
  socket.push({ type: 'rpc:result', id: frame.id, result: 7 });
  assert.equal(await p, 7);

  const q = counter.call('increment');
  const f2 = await socket.next();
  assert.ok(!('input' in f2), 'undefined input is omitted');
  assert.notEqual(f2.id, frame.id, 'rpc ids are unique');
  socket.push({ type: 'rpc:result', id: f2.id });
  assert.equal(await q, null, 'a result-less success resolves with null');
});

test('results are matched by id, whatever order they come in', async (t) => {
  const { client, socket } = await setup(t);
  const a = client.actor('chat', 'lobby');
  const p1 = a.call('send', { text: 'one' });
  const p2 = a.call('send', { text: 'two' });
  const f1 = await socket.next();
  const f2 = await socket.next();
  socket.push({ type: 'rpc:result', id: 'not-ours', result: 'ignored' });
  socket.push({ type: 'rpc:result', id: f2.id, result: 'second' });
  socket.push({ type: 'rpc:result', id: f1.id, result: 'first' });
  assert.deepEqual(await Promise.all([p1, p2]), ['first', 'second']);
});

test('a server error rejects with RpcError carrying the exact message', async (t) => {
  const { client, socket } = await setup(t);
  const p = client.actor('counter', 'main').call('nope', 1);
  const f = await socket.next();
  socket.push({ type: 'rpc:result', id: f.id, error: 'unknown method "nope"' });
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof RpcError);
    assert.ok(err instanceof ZocketError);
    assert.equal(err.name, 'RpcError');
    assert.equal(err.message, 'unknown method "nope"');
    assert.equal(err.actor, 'counter');
    assert.equal(err.actorId, 'main');
    assert.equal(err.method, 'nope');
    return true;
  });

  const q = client.actor('counter', 'main').call('x');
  const g = await socket.next();
  socket.push({ type: 'rpc:result', id: g.id, error: '' });
  await assert.rejects(q, RpcError, 'an empty error string is still a failure');
});

test('a call without an answer rejects with TimeoutError; a late answer is ignored', async (t) => {
  const { client, socket, errors } = await setup(t, { rpcTimeoutMs: 20 });
  const p = client.actor('counter', 'main').call('slow');
  const f = await socket.next();
  await assert.rejects(p, (err) => err instanceof TimeoutError && /counter\/main\.slow/.test(err.message));
  socket.push({ type: 'rpc:result', id: f.id, result: 1 });

  const q = client.actor('counter', 'main').call('slow', null, { timeoutMs: 0 });
  const g = await socket.next();
  await new Promise((r) => setTimeout(r, 40)); // longer than the client default
  socket.push({ type: 'rpc:result', id: g.id, result: 'late but fine' });
  assert.equal(await q, 'late but fine', 'timeoutMs 0 disables the timeout');
  assert.deepEqual(errors, []);
});

test('an aborted call rejects with the abort reason', async (t) => {
  const { client, socket } = await setup(t);
  const ac = new AbortController();
  const p = client.actor('counter', 'main').call('slow', null, { signal: ac.signal });
  await socket.next();
  ac.abort(new Error('user gave up'));
  await assert.rejects(p, /user gave up/);
  await assert.rejects(client.actor('counter', 'main').call('x', null, { signal: ac.signal }), /user gave up/);
});

test('a dropped connection rejects calls in flight; calls made meanwhile go out after reconnect', async (t) => {
  const { net, client, socket } = await setup(t);
  const statuses = statusLog(client);
  const counter = client.actor('counter', 'main');
  const inflight = counter.call('increment');
  await socket.next();
  socket.drop();
  await assert.rejects(inflight, (err) => err instanceof DisconnectedError && /connection lost/.test(err.message));
  assert.equal(client.status, Status.RECONNECTING);
  assert.equal(client.clientId, null);

  const queued = counter.call('decrement');
  const next = await net.next();
  assert.equal(next.frames.size, 0);
  next.accept('c2');
  const f = await next.next();
  assert.equal(f.method, 'decrement');
  next.push({ type: 'rpc:result', id: f.id, result: -1 });
  assert.equal(await queued, -1);
  assert.equal(client.clientId, 'c2');
  assert.deepEqual(
    statuses.map((e) => e.status),
    ['reconnecting', 'open'],
  );
  assert.equal(statuses[0].attempt, 1);
  assert.equal(statuses[0].code, 1006);
});

test('state: snapshot then patches, shared by all subscribers of one actor', async (t) => {
  const { client, socket } = await setup(t);
  const counter = client.actor('counter', 'main');
  const seen = [];
  const unsub1 = counter.subscribeState((state, info) => seen.push({ state, info }));
  assert.deepEqual(await socket.next(), { type: 'state:sub', actor: 'counter', actorId: 'main' });
  assert.equal(counter.state, undefined);

  socket.push({ type: 'state:snapshot', actor: 'counter', actorId: 'main', state: { count: 1, viewers: 1 } });
  assert.deepEqual(counter.state, { count: 1, viewers: 1 });
  const snapshot = counter.state;
  socket.push({
    type: 'state:patch',
    actor: 'counter',
    actorId: 'main',
    patches: [{ op: 'replace', path: '/count', value: 2 }],
  });
  assert.deepEqual(counter.state, { count: 2, viewers: 1 });
  assert.deepEqual(snapshot, { count: 1, viewers: 1 }, 'states are not mutated in place');
  assert.deepEqual(
    seen.map((s) => [s.state.count, s.info.snapshot]),
    [
      [1, true],
      [2, false],
    ],
  );
  assert.deepEqual(seen[1].info.patches, [{ op: 'replace', path: '/count', value: 2 }]);

  // A second subscriber sends no frame and gets the current state at once.
  const second = [];
  const unsub2 = counter.subscribeState((state) => second.push(state));
  await Promise.resolve();
  assert.deepEqual(second, [{ count: 2, viewers: 1 }]);

  // Frames for other actors do not touch this one.
  socket.push({ type: 'state:patch', actor: 'counter', actorId: 'other', patches: [{ op: 'remove', path: '/count' }] });
  assert.deepEqual(counter.state, { count: 2, viewers: 1 });

  unsub1();
  unsub1(); // idempotent
  unsub2();
  assert.deepEqual(await socket.next(), { type: 'state:unsub', actor: 'counter', actorId: 'main' });
  assert.equal(counter.state, undefined);
  socket.push({ type: 'state:patch', actor: 'counter', actorId: 'main', patches: [{ op: 'replace', path: '/count', value: 3 }] });
  assert.equal(seen.length, 2, 'no updates after unsubscribing');
  assert.equal(socket.frames.size, 0, 'exactly one state:sub and one state:unsub');
});

test('a patch that does not apply triggers a resync and never reaches listeners', async (t) => {
  const { client, socket, errors } = await setup(t);
  const chat = client.actor('chat', 'lobby');
  const seen = [];
  chat.subscribeState((state) => seen.push(state));
  await socket.next(); // state:sub
  socket.push({ type: 'state:snapshot', actor: 'chat', actorId: 'lobby', state: { messages: [] } });
  socket.push({
    type: 'state:patch',
    actor: 'chat',
    actorId: 'lobby',
    patches: [{ op: 'remove', path: '/messages/3' }],
  });
  assert.deepEqual(await socket.next(), { type: 'state:unsub', actor: 'chat', actorId: 'lobby' });
  assert.deepEqual(await socket.next(), { type: 'state:sub', actor: 'chat', actorId: 'lobby' });
  assert.equal(errors.length, 1);
  assert.match(String(errors[0].message), /resyncing/);

  // Patches in between are based on a state we do not have: dropped.
  socket.push({ type: 'state:patch', actor: 'chat', actorId: 'lobby', patches: [{ op: 'add', path: '/x', value: 1 }] });
  assert.deepEqual(chat.state, { messages: [] });
  socket.push({ type: 'state:snapshot', actor: 'chat', actorId: 'lobby', state: { messages: [{ id: 'm1' }] } });
  assert.deepEqual(seen, [{ messages: [] }, { messages: [{ id: 'm1' }] }]);
});

test('events: one event:sub per actor, dispatch by name, event:unsub after the last listener', async (t) => {
  const { client, socket } = await setup(t);
  const chat = client.actor('chat', 'lobby');
  const messages = [];
  const typing = [];
  const offMsg = chat.on('newMessage', (payload, info) => messages.push([payload, info]));
  assert.deepEqual(await socket.next(), { type: 'event:sub', actor: 'chat', actorId: 'lobby' });
  const offTyping = chat.on('typing', (payload) => typing.push(payload));

  socket.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'newMessage', payload: { text: 'hi' } });
  socket.push({ type: 'event', actor: 'chat', actorId: 'other', event: 'newMessage', payload: { text: 'elsewhere' } });
  socket.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'typing', payload: 'ann' });
  socket.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'unheard', payload: 1 });
  assert.deepEqual(messages, [[{ text: 'hi' }, { actor: 'chat', actorId: 'lobby', event: 'newMessage' }]]);
  assert.deepEqual(typing, ['ann']);

  offMsg();
  assert.equal(socket.frames.size, 0, 'still one listener: no unsub');
  offTyping();
  assert.deepEqual(await socket.next(), { type: 'event:unsub', actor: 'chat', actorId: 'lobby' });
  socket.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'typing', payload: 'bob' });
  assert.deepEqual(typing, ['ann']);
});

test('reconnect re-sends state:sub and event:sub, and a fresh snapshot replaces the local copy', async (t) => {
  const { net, client, socket } = await setup(t);
  const counter = client.actor('counter', 'main');
  const chat = client.actor('chat', 'lobby');
  const states = [];
  const events = [];
  counter.subscribeState((s, info) => states.push([s, info.snapshot]));
  chat.on('newMessage', (p) => events.push(p));
  const welcomes = [];
  client.onWelcome((id) => welcomes.push(id));
  await socket.next();
  await socket.next();
  socket.push({ type: 'state:snapshot', actor: 'counter', actorId: 'main', state: { count: 5, viewers: 2 } });

  socket.drop();
  const again = await net.next();
  again.accept('c2');
  const frames = [await again.next(), await again.next()];
  frames.sort((a, b) => a.type.localeCompare(b.type));
  assert.deepEqual(frames, [
    { type: 'event:sub', actor: 'chat', actorId: 'lobby' },
    { type: 'state:sub', actor: 'counter', actorId: 'main' },
  ]);
  assert.deepEqual(welcomes, ['c2']);
  assert.equal(client.clientId, 'c2');

  // Until the snapshot arrives the last known state stays readable, and
  // patches meant for the new subscription's base are not applied to it.
  assert.deepEqual(counter.state, { count: 5, viewers: 2 });
  again.push({ type: 'state:patch', actor: 'counter', actorId: 'main', patches: [{ op: 'replace', path: '/count', value: 99 }] });
  assert.deepEqual(counter.state, { count: 5, viewers: 2 });
  again.push({ type: 'state:snapshot', actor: 'counter', actorId: 'main', state: { count: 9, viewers: 1, extra: true } });
  assert.deepEqual(counter.state, { count: 9, viewers: 1, extra: true });
  again.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'newMessage', payload: 'after' });
  assert.deepEqual(states, [
    [{ count: 5, viewers: 2 }, true],
    [{ count: 9, viewers: 1, extra: true }, true],
  ]);
  assert.deepEqual(events, ['after']);
});

test('reconnect backs off exponentially with jitter, up to the cap, and resets after a welcome', async (t) => {
  const net = new FakeNet();
  const client = connect('ws://zocket.test/', {
    WebSocket: net.WebSocket,
    reconnect: { minDelayMs: 2, maxDelayMs: 16 },
  });
  t.after(() => client.close());
  const statuses = statusLog(client);
  for (let i = 0; i < 6; i++) (await net.next()).drop(); // server refuses
  const ok = await net.next();
  const delays = statuses.filter((e) => e.status === 'reconnecting').map((e) => [e.attempt, e.delayMs]);
  assert.equal(delays.length, 6);
  const ceilings = [2, 4, 8, 16, 16, 16];
  delays.forEach(([attempt, delay], i) => {
    assert.equal(attempt, i + 1);
    assert.ok(delay >= ceilings[i] / 2 && delay <= ceilings[i], `attempt ${attempt}: delay ${delay} not in [${ceilings[i] / 2}, ${ceilings[i]}]`);
  });
  assert.equal(statuses[0].previous, 'connecting');

  ok.accept('c1');
  ok.drop();
  await net.next();
  const last = statuses.filter((e) => e.status === 'reconnecting').at(-1);
  assert.equal(last.attempt, 1, 'a welcomed connection resets the backoff');
});

test('close stops everything: socket closed, calls rejected, no reconnect', async (t) => {
  const { net, client, socket } = await setup(t);
  const statuses = statusLog(client);
  const counter = client.actor('counter', 'main');
  counter.subscribeState(() => {});
  await socket.next();
  const inflight = counter.call('increment');
  await socket.next();
  client.close();
  client.close(); // idempotent
  assert.equal(client.status, Status.CLOSED);
  assert.deepEqual(socket.closedWith, { code: 1000, reason: 'client closed' });
  await assert.rejects(inflight, DisconnectedError);
  await assert.rejects(counter.call('increment'), (err) => err instanceof DisconnectedError && /client closed/.test(err.message));
  assert.deepEqual(
    statuses.map((e) => e.status),
    ['closed'],
  );
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(net.all.length, 1, 'no reconnect after close');
  assert.equal(socket.frames.size, 0, 'nothing sent after close');
});

test('close while reconnecting cancels the retry and rejects queued calls', async (t) => {
  const net = new FakeNet();
  const client = connect('ws://zocket.test/', { WebSocket: net.WebSocket, reconnect: { minDelayMs: 50, maxDelayMs: 50 } });
  t.after(() => client.close());
  (await net.next()).drop();
  assert.equal(client.status, Status.RECONNECTING);
  const queued = client.actor('counter', 'main').call('increment');
  client.close();
  await assert.rejects(queued, DisconnectedError);
  await assert.rejects(client.ready, DisconnectedError);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(net.all.length, 1);
});

test('reconnect: false closes for good on the first disconnect', async (t) => {
  const { net, client, socket } = await setup(t, { reconnect: false });
  const p = client.actor('counter', 'main').call('increment');
  await socket.next();
  socket.drop(1001);
  await assert.rejects(p, DisconnectedError);
  assert.equal(client.status, Status.CLOSED);
  await assert.rejects(client.actor('counter', 'main').call('increment'), DisconnectedError);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(net.all.length, 1);
});

test('a refused subscription reaches its onError, or the client onError, as a SubscriptionError', async (t) => {
  const { client, socket, errors } = await setup(t);
  const room = client.actor('chat', 'secret');
  const refusals = [];
  const states = [];
  room.subscribeState((s) => states.push(s), { onError: (err) => refusals.push(err) });
  assert.deepEqual(await socket.next(), { type: 'state:sub', actor: 'chat', actorId: 'secret' });
  socket.push({ type: 'sub:error', actor: 'chat', actorId: 'secret', refused: 'state:sub', error: 'forbidden: not a member' });
  assert.equal(refusals.length, 1);
  assert.ok(refusals[0] instanceof SubscriptionError);
  assert.ok(refusals[0] instanceof ZocketError);
  assert.equal(refusals[0].message, 'forbidden: not a member');
  assert.equal(refusals[0].refused, 'state:sub');
  assert.equal(refusals[0].actorId, 'secret');
  assert.deepEqual(states, []);
  assert.equal(errors.length, 0, 'handled by the subscription, not the client');

  // Without an onError of its own, the client's onError hears it.
  room.on('newMessage', () => {});
  assert.deepEqual(await socket.next(), { type: 'event:sub', actor: 'chat', actorId: 'secret' });
  socket.push({ type: 'sub:error', actor: 'chat', actorId: 'secret', refused: 'event:sub', error: 'forbidden' });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof SubscriptionError);
  assert.equal(errors[0].refused, 'event:sub');
  // One for an actor nobody here subscribed to is ignored.
  socket.push({ type: 'sub:error', actor: 'chat', actorId: 'other', refused: 'state:sub', error: 'no' });
  assert.equal(errors.length, 1);
  assert.throws(() => room.subscribeState(() => {}, { onError: 'not a function' }), TypeError);
});

test('listener errors are reported and do not stop other listeners', async (t) => {
  const { client, socket, errors } = await setup(t);
  const chat = client.actor('chat', 'lobby');
  const got = [];
  chat.on('newMessage', () => {
    throw new Error('boom');
  });
  chat.on('newMessage', (p) => got.push(p));
  await socket.next();
  socket.push({ type: 'event', actor: 'chat', actorId: 'lobby', event: 'newMessage', payload: 1 });
  assert.deepEqual(got, [1]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, 'boom');
});

test('garbage from the server is ignored without breaking the connection', async (t) => {
  const { client, socket, errors } = await setup(t);
  socket.push('not json');
  socket.push('[1,2]');
  socket.push({ no: 'type' });
  socket.push({ type: 'from-the-future', x: 1 });
  socket.push({ type: 'state:snapshot', actor: 'nobody', actorId: 'x', state: {} });
  const p = client.actor('counter', 'main').call('increment');
  const f = await socket.next();
  socket.onmessage({ data: new TextEncoder().encode(JSON.stringify({ type: 'rpc:result', id: f.id, result: 3 })) });
  assert.equal(await p, 3, 'binary frames holding JSON text are understood');
  assert.equal(client.status, Status.OPEN);
  assert.equal(errors.length, 1, 'only the invalid JSON is reported');
});

test('argument checks', async (t) => {
  const { client } = await setup(t);
  assert.throws(() => client.actor('', 'x'), TypeError);
  assert.throws(() => client.actor('counter', {}), TypeError);
  assert.equal(client.actor('counter', 7).id, '7');
  await assert.rejects(client.actor('counter', 'main').call(''), TypeError);
  await assert.rejects(client.actor('counter', 'main').call('x', null, { timeoutMs: -5 }), TypeError);
  const circular = {};
  circular.self = circular;
  await assert.rejects(client.actor('counter', 'main').call('x', circular), TypeError);
  assert.throws(() => client.actor('counter', 'main').subscribeState(null), TypeError);
  assert.throws(() => client.actor('counter', 'main').on('', () => {}), TypeError);
});
