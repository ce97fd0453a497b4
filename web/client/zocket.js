// Zocket browser client: stateful realtime actors over one WebSocket.
//
// It speaks the Zocket wire protocol (see the README) and nothing else, so the
// same code works against the standalone server and the distributed gateway.
// No build step and no dependencies: import it as an ES module.
//
//   import { connect } from '/zocket.js';
//   const client = connect('wss://example.com/', { token });
//   const counter = client.actor('counter', 'main');
//   counter.subscribeState((state) => render(state));
//   await counter.call('increment');

import { applyPatch } from './patch.js';

export { applyPatch, PatchError } from './patch.js';

/** Connection states, in the order a connection usually goes through them. */
export const Status = Object.freeze({
  CONNECTING: 'connecting',
  OPEN: 'open',
  RECONNECTING: 'reconnecting',
  CLOSED: 'closed',
});

const OPEN = 1; // WebSocket.OPEN, the same in browsers, ws and test fakes.

const defaults = Object.freeze({
  rpcTimeoutMs: 10_000,
  minDelayMs: 250,
  maxDelayMs: 10_000,
});

/** ZocketError is the base class of every error this client creates. */
export class ZocketError extends Error {
  constructor(message, details) {
    super(message);
    this.name = 'ZocketError';
    if (details) Object.assign(this, details);
  }
}

/**
 * RpcError is a call the server answered with an error: its message is the
 * server's `error` string, unchanged.
 */
export class RpcError extends ZocketError {
  constructor(message, details) {
    super(message, details);
    this.name = 'RpcError';
  }
}

/** TimeoutError is a call that got no answer within its timeout. */
export class TimeoutError extends ZocketError {
  constructor(message, details) {
    super(message, details);
    this.name = 'TimeoutError';
  }
}

/**
 * DisconnectedError is a call that cannot get an answer: the connection
 * dropped after it was sent, or the client was closed.
 */
export class DisconnectedError extends ZocketError {
  constructor(message, details) {
    super(message, details);
    this.name = 'DisconnectedError';
  }
}

/**
 * SubscriptionError is a subscription the server refused (a `sub:error`
 * frame): not authorized, an unknown actor type, or over a limit. `refused`
 * is 'state:sub' or 'event:sub'; the message is the server's reason.
 */
export class SubscriptionError extends ZocketError {
  constructor(message, details) {
    super(message, details);
    this.name = 'SubscriptionError';
  }
}

/**
 * connect opens a client and starts connecting at once. See Client.
 * @param {string | URL} [url] ws:, wss:, http: or https: URL; defaults to
 *   the page's own host at "/".
 * @param {object} [options]
 */
export function connect(url, options) {
  return new Client(url, options);
}

function errorListener(options) {
  const f = options?.onError;
  if (f === undefined || f === null) return null;
  if (typeof f !== 'function') throw new TypeError('zocket: options.onError must be a function');
  return f;
}

function positive(value, name, fallback) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) {
    throw new TypeError(`zocket: ${name} must be a non-negative finite number`);
  }
  return value;
}

function baseURL(url) {
  if (url === undefined || url === null || url === '') {
    const loc = globalThis.location;
    if (!loc || !loc.host) throw new TypeError('zocket: connect needs a URL outside a browser page');
    return new URL(`${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/`);
  }
  const u = new URL(String(url), globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TypeError(`zocket: unsupported URL scheme ${u.protocol}`);
  }
  u.hash = '';
  return u;
}

function decodeText(data) {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null; // Blob and friends: the protocol uses text frames only.
}

const keyOf = (actor, actorId) => JSON.stringify([actor, actorId]);

/**
 * Client is one logical connection to a Zocket server. It reconnects on its
 * own until close() is called, re-subscribing everything that is subscribed.
 */
export class Client {
  #url;
  #WebSocket;
  #token;
  #rpcTimeoutMs;
  #reconnect;
  #onError;

  #ws = null;
  #status = Status.CONNECTING;
  #clientId = null;
  #closed = false;
  #attempt = 0;
  #timer = null;
  #dialGen = 0;
  #seq = 0;
  #pending = new Map(); // rpc id -> call entry
  #outbox = []; // rpc ids created while not open, sent in order on open
  #actors = new Map(); // keyOf -> { rec, handle }
  #statusListeners = new Set();
  #welcomeListeners = new Set();
  #ready;
  #readySettle;
  #ops;

  /**
   * @param {string | URL} [url]
   * @param {object} [options]
   * @param {string | null | (() => string | null | Promise<string | null>)} [options.token]
   *   sent as the `token` query parameter; a function is asked before every
   *   connection attempt, so it can refresh an expiring token.
   * @param {number} [options.rpcTimeoutMs] default timeout of call(); 0 means none. Default 10000.
   * @param {false | {minDelayMs?: number, maxDelayMs?: number}} [options.reconnect]
   *   backoff between reconnect attempts (defaults 250 and 10000 ms), or false
   *   to stay closed after the first disconnect.
   * @param {Function} [options.WebSocket] WebSocket constructor; defaults to globalThis.WebSocket.
   * @param {(err: unknown) => void} [options.onError] receives errors thrown by
   *   listeners and protocol problems; defaults to console.error.
   */
  constructor(url, options = {}) {
    this.#url = baseURL(url);
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') {
      throw new TypeError('zocket: no WebSocket implementation; pass options.WebSocket');
    }
    this.#token = options.token ?? null;
    this.#rpcTimeoutMs = positive(options.rpcTimeoutMs, 'rpcTimeoutMs', defaults.rpcTimeoutMs);
    if (options.reconnect === false) {
      this.#reconnect = null;
    } else {
      const r = options.reconnect ?? {};
      const min = positive(r.minDelayMs, 'reconnect.minDelayMs', defaults.minDelayMs);
      const max = positive(r.maxDelayMs, 'reconnect.maxDelayMs', Math.max(min, defaults.maxDelayMs));
      this.#reconnect = { minDelayMs: min, maxDelayMs: Math.max(min, max) };
    }
    this.#onError = typeof options.onError === 'function' ? options.onError : null;
    this.#ready = new Promise((resolve, reject) => {
      this.#readySettle = { resolve, reject };
    });
    this.#ready.catch(() => {}); // rejected only by close(); callers still see it.
    this.#ops = {
      call: (rec, method, input, opts) => this.#call(rec, method, input, opts),
      subscribeState: (rec, listener, options) => this.#subscribeState(rec, listener, options),
      on: (rec, event, listener, options) => this.#on(rec, event, listener, options),
    };
    this.#dial();
  }

  /** The server's id for the current connection (from `welcome`), or null. */
  get clientId() {
    return this.#clientId;
  }

  /**
   * 'connecting' | 'open' | 'reconnecting' | 'closed'. It is 'open' from the
   * moment the socket opens, a little before the welcome brings clientId.
   */
  get status() {
    return this.#status;
  }

  /** The server URL, without the token. */
  get url() {
    return this.#url.href;
  }

  /**
   * A promise of the first clientId. It rejects with DisconnectedError if the
   * client is closed before any `welcome` arrived.
   */
  get ready() {
    return this.#ready;
  }

  /**
   * onStatus calls listener(status, info) on every status change, where info
   * is {previous, attempt, delayMs, code, reason} (the last four only when
   * reconnecting). Returns a function that removes the listener.
   */
  onStatus(listener) {
    return addListener(this.#statusListeners, listener);
  }

  /**
   * onWelcome calls listener(clientId) each time a connection is welcomed,
   * including after every reconnect. Returns a function that removes it.
   */
  onWelcome(listener) {
    return addListener(this.#welcomeListeners, listener);
  }

  /**
   * actor returns the handle of one actor instance; the same (type, id)
   * always gives the same handle.
   * @param {string} type actor type, e.g. "counter"
   * @param {string} id actor id, e.g. "main"
   */
  actor(type, id) {
    if (typeof type !== 'string' || type === '') throw new TypeError('zocket: actor type must be a non-empty string');
    if (typeof id === 'number') id = String(id);
    if (typeof id !== 'string') throw new TypeError('zocket: actor id must be a string');
    const key = keyOf(type, id);
    let entry = this.#actors.get(key);
    if (!entry) {
      const rec = {
        actor: type,
        actorId: id,
        stateListeners: new Set(),
        state: undefined,
        hasState: false,
        awaiting: false, // a state:sub is out and its snapshot has not come yet
        events: new Map(), // name -> Set of {listener}
        eventCount: 0,
      };
      entry = { rec, handle: new ActorHandle(this.#ops, rec) };
      this.#actors.set(key, entry);
    }
    return entry.handle;
  }

  /**
   * close stops the client for good: the socket is closed, reconnecting
   * stops, and pending calls reject with DisconnectedError. Safe to call
   * more than once.
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#dialGen++;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, 'client closed');
      } catch {
        // already closing
      }
    }
    this.#clientId = null;
    this.#failPending(() => true, 'client closed');
    this.#outbox = [];
    this.#readySettle.reject(new DisconnectedError('client closed before the server welcomed it'));
    this.#setStatus(Status.CLOSED, {});
    this.#statusListeners.clear();
    this.#welcomeListeners.clear();
  }

  // ---- connection ----

  #dial() {
    const gen = ++this.#dialGen;
    if (typeof this.#token !== 'function') {
      this.#open(gen, this.#token);
      return;
    }
    Promise.resolve()
      .then(() => this.#token())
      .then(
        (token) => this.#open(gen, token),
        (err) => {
          if (gen !== this.#dialGen || this.#closed) return;
          this.#report(err);
          this.#scheduleReconnect({ reason: 'token: ' + (err?.message ?? String(err)) });
        },
      );
  }

  #open(gen, token) {
    if (gen !== this.#dialGen || this.#closed) return;
    const u = new URL(this.#url.href);
    if (token !== null && token !== undefined && token !== '') u.searchParams.set('token', String(token));
    let ws;
    try {
      ws = new this.#WebSocket(u.href);
    } catch (err) {
      this.#report(err);
      this.#scheduleReconnect({ reason: err?.message ?? String(err) });
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws === ws) this.#handleOpen();
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#handleMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.#ws === ws) this.#handleClose(ev ?? {});
    };
    ws.onerror = () => {}; // a close event always follows
  }

  #handleOpen() {
    this.#setStatus(Status.OPEN, {});
    for (const { rec } of this.#actors.values()) {
      if (rec.stateListeners.size > 0) {
        rec.awaiting = true;
        this.#sendFrame({ type: 'state:sub', actor: rec.actor, actorId: rec.actorId });
      }
      if (rec.eventCount > 0) {
        this.#sendFrame({ type: 'event:sub', actor: rec.actor, actorId: rec.actorId });
      }
    }
    const queued = this.#outbox;
    this.#outbox = [];
    for (const id of queued) {
      const call = this.#pending.get(id);
      if (call && !call.sent) this.#transmit(call);
    }
  }

  #handleClose(ev) {
    this.#ws = null;
    this.#clientId = null;
    this.#failPending((call) => call.sent, 'connection lost before the result arrived');
    for (const { rec } of this.#actors.values()) {
      if (rec.stateListeners.size > 0) rec.awaiting = true;
    }
    const info = { code: ev.code, reason: ev.reason };
    if (!this.#reconnect) {
      this.#closed = true;
      this.#failPending(() => true, 'connection closed');
      this.#outbox = [];
      this.#readySettle.reject(new DisconnectedError('connection closed before the server welcomed it'));
      this.#setStatus(Status.CLOSED, info);
      this.#statusListeners.clear();
      this.#welcomeListeners.clear();
      return;
    }
    this.#scheduleReconnect(info);
  }

  #scheduleReconnect(info) {
    if (!this.#reconnect) {
      this.close();
      return;
    }
    this.#attempt++;
    const { minDelayMs, maxDelayMs } = this.#reconnect;
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(this.#attempt - 1, 30));
    const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // "equal jitter"
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#dial();
    }, delayMs);
    this.#setStatus(Status.RECONNECTING, { attempt: this.#attempt, delayMs, ...info });
  }

  #setStatus(status, info) {
    const previous = this.#status;
    if (previous === status && status !== Status.RECONNECTING) return;
    this.#status = status;
    this.#emit(this.#statusListeners, status, { previous, ...info });
  }

  // ---- frames ----

  #sendFrame(frame) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN || this.#status !== Status.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (err) {
      this.#report(err);
      return false;
    }
  }

  #transmit(call) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN || this.#status !== Status.OPEN) {
      this.#outbox.push(call.id);
      return;
    }
    try {
      ws.send(call.text);
      call.sent = true;
    } catch (err) {
      this.#outbox.push(call.id);
      this.#report(err);
    }
  }

  #handleMessage(data) {
    const text = decodeText(data);
    if (text === null) return;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (err) {
      this.#report(new ZocketError(`zocket: server sent invalid JSON: ${err.message}`));
      return;
    }
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    switch (frame.type) {
      case 'welcome':
        this.#handleWelcome(frame);
        break;
      case 'rpc:result':
        this.#handleResult(frame);
        break;
      case 'event': {
        const rec = this.#record(frame);
        if (rec && typeof frame.event === 'string') this.#handleEvent(rec, frame);
        break;
      }
      case 'state:snapshot': {
        const rec = this.#record(frame);
        if (rec) this.#handleSnapshot(rec, frame.state);
        break;
      }
      case 'state:patch': {
        const rec = this.#record(frame);
        if (rec) this.#handlePatch(rec, frame.patches);
        break;
      }
      case 'sub:error': {
        const rec = this.#record(frame);
        if (rec) this.#handleSubError(rec, frame);
        break;
      }
      default:
      // Unknown frame types are ignored so that newer servers stay compatible.
    }
  }

  #record(frame) {
    return this.#actors.get(keyOf(frame.actor ?? '', frame.actorId ?? ''))?.rec;
  }

  #handleWelcome(frame) {
    this.#clientId = frame.clientId == null ? null : String(frame.clientId);
    this.#attempt = 0;
    this.#readySettle.resolve(this.#clientId);
    this.#emit(this.#welcomeListeners, this.#clientId);
  }

  #handleResult(frame) {
    const id = frame.id == null ? '' : String(frame.id);
    const call = this.#pending.get(id);
    if (!call) return; // timed out already, or not ours
    this.#settle(call);
    if (Object.prototype.hasOwnProperty.call(frame, 'error')) {
      call.reject(new RpcError(String(frame.error), call.details));
    } else {
      call.resolve(frame.result === undefined ? null : frame.result);
    }
  }

  #settle(call) {
    this.#pending.delete(call.id);
    clearTimeout(call.timer);
    if (call.signal) call.signal.removeEventListener('abort', call.onAbort);
    if (!call.sent) {
      const i = this.#outbox.indexOf(call.id);
      if (i >= 0) this.#outbox.splice(i, 1);
    }
  }

  #failPending(which, message) {
    for (const call of [...this.#pending.values()]) {
      if (!which(call)) continue;
      this.#settle(call);
      call.reject(new DisconnectedError(`${call.label}: ${message}`, call.details));
    }
  }

  // ---- actor operations (reached through ActorHandle) ----

  #call(rec, method, input, opts = {}) {
    if (typeof method !== 'string' || method === '') {
      return Promise.reject(new TypeError('zocket: method must be a non-empty string'));
    }
    const label = `${rec.actor}/${rec.actorId}.${method}`;
    const details = { actor: rec.actor, actorId: rec.actorId, method };
    if (this.#closed) return Promise.reject(new DisconnectedError(`${label}: client closed`, details));
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = String(++this.#seq);
    const frame = { type: 'rpc', id, actor: rec.actor, actorId: rec.actorId, method };
    if (input !== undefined) frame.input = input;
    let text;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      return Promise.reject(err);
    }
    let timeoutMs;
    try {
      timeoutMs = positive(opts?.timeoutMs, 'timeoutMs', this.#rpcTimeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const call = { id, text, label, details, resolve, reject, sent: false, timer: null, signal, onAbort: null };
      this.#pending.set(id, call);
      if (timeoutMs > 0) {
        call.timer = setTimeout(() => {
          if (this.#pending.get(id) !== call) return;
          this.#settle(call);
          reject(new TimeoutError(`${label}: no result within ${timeoutMs} ms`, details));
        }, timeoutMs);
      }
      if (signal) {
        call.onAbort = () => {
          if (this.#pending.get(id) !== call) return;
          this.#settle(call);
          reject(signal.reason);
        };
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.#transmit(call);
    });
  }

  #subscribeState(rec, listener, options) {
    if (typeof listener !== 'function') throw new TypeError('zocket: listener must be a function');
    const entry = { listener, onError: errorListener(options) };
    rec.stateListeners.add(entry);
    if (rec.stateListeners.size === 1) {
      rec.awaiting = true;
      this.#sendFrame({ type: 'state:sub', actor: rec.actor, actorId: rec.actorId });
    } else if (rec.hasState) {
      const state = rec.state;
      queueMicrotask(() => {
        if (rec.stateListeners.has(entry) && rec.state === state) {
          this.#invoke(listener, state, { snapshot: true });
        }
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      rec.stateListeners.delete(entry);
      if (rec.stateListeners.size === 0) {
        rec.state = undefined;
        rec.hasState = false;
        rec.awaiting = false;
        this.#sendFrame({ type: 'state:unsub', actor: rec.actor, actorId: rec.actorId });
      }
    };
  }

  #handleSnapshot(rec, state) {
    if (rec.stateListeners.size === 0) return; // late frame after unsubscribing
    rec.state = state === undefined ? null : state;
    rec.hasState = true;
    rec.awaiting = false;
    this.#notifyState(rec, { snapshot: true });
  }

  #handlePatch(rec, patches) {
    if (rec.stateListeners.size === 0 || rec.awaiting || !rec.hasState) return;
    let next;
    try {
      next = applyPatch(rec.state, patches);
    } catch (err) {
      // Our copy no longer matches the server's: drop it and ask again. The
      // unsub+sub pair makes the server send a fresh snapshot.
      this.#report(new ZocketError(`zocket: ${rec.actor}/${rec.actorId}: resyncing state: ${err.message}`));
      rec.awaiting = true;
      this.#sendFrame({ type: 'state:unsub', actor: rec.actor, actorId: rec.actorId });
      this.#sendFrame({ type: 'state:sub', actor: rec.actor, actorId: rec.actorId });
      return;
    }
    rec.state = next;
    this.#notifyState(rec, { snapshot: false, patches });
  }

  // #handleSubError tells the listeners of a refused subscription, through
  // their onError, or the client's onError when none has one. The
  // subscription stays registered: a reconnect asks again, and the
  // listeners' unsubscribe functions still work.
  #handleSubError(rec, frame) {
    const err = new SubscriptionError(String(frame.error ?? 'subscription refused'), {
      actor: rec.actor,
      actorId: rec.actorId,
      refused: frame.refused,
    });
    let entries;
    if (frame.refused === 'state:sub') {
      rec.awaiting = false;
      entries = [...rec.stateListeners];
    } else {
      entries = [...rec.events.values()].flatMap((set) => [...set]);
    }
    const handlers = entries.map((e) => e.onError).filter((f) => f !== null);
    if (handlers.length === 0) {
      this.#report(err);
      return;
    }
    for (const onError of handlers) this.#invoke(onError, err);
  }

  #notifyState(rec, info) {
    const state = rec.state;
    for (const entry of [...rec.stateListeners]) {
      if (rec.stateListeners.has(entry)) this.#invoke(entry.listener, state, info);
    }
  }

  #on(rec, event, listener, options) {
    if (typeof event !== 'string' || event === '') throw new TypeError('zocket: event name must be a non-empty string');
    if (typeof listener !== 'function') throw new TypeError('zocket: listener must be a function');
    let set = rec.events.get(event);
    if (!set) {
      set = new Set();
      rec.events.set(event, set);
    }
    const entry = { listener, onError: errorListener(options) };
    set.add(entry);
    rec.eventCount++;
    if (rec.eventCount === 1) this.#sendFrame({ type: 'event:sub', actor: rec.actor, actorId: rec.actorId });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      set.delete(entry);
      if (set.size === 0 && rec.events.get(event) === set) rec.events.delete(event);
      rec.eventCount--;
      if (rec.eventCount === 0) this.#sendFrame({ type: 'event:unsub', actor: rec.actor, actorId: rec.actorId });
    };
  }

  #handleEvent(rec, frame) {
    const set = rec.events.get(frame.event);
    if (!set) return;
    const info = { actor: rec.actor, actorId: rec.actorId, event: frame.event };
    for (const entry of [...set]) {
      if (set.has(entry)) this.#invoke(entry.listener, frame.payload, info);
    }
  }

  // ---- listeners ----

  #emit(set, ...args) {
    for (const listener of [...set]) {
      if (set.has(listener)) this.#invoke(listener, ...args);
    }
  }

  #invoke(listener, ...args) {
    try {
      listener(...args);
    } catch (err) {
      this.#report(err);
    }
  }

  #report(err) {
    if (this.#onError) {
      try {
        this.#onError(err);
        return;
      } catch {
        // fall through to the console
      }
    }
    console.error(err);
  }
}

function addListener(set, listener) {
  if (typeof listener !== 'function') throw new TypeError('zocket: listener must be a function');
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * ActorHandle addresses one actor instance, (type, id). Get it from
 * client.actor(type, id); it stays valid across reconnects.
 */
class ActorHandle {
  #ops;
  #rec;

  constructor(ops, rec) {
    this.#ops = ops;
    this.#rec = rec;
    /** The actor type. */
    this.type = rec.actor;
    /** The actor id. */
    this.id = rec.actorId;
    Object.freeze(this);
  }

  /**
   * call runs a method on the actor and resolves with its result. It rejects
   * with RpcError (the server's error), TimeoutError, DisconnectedError, or
   * the abort reason of options.signal. Calls made while reconnecting wait
   * for the connection (within their timeout).
   * @param {string} method
   * @param {unknown} [input] any JSON value; omitted when undefined
   * @param {{timeoutMs?: number, signal?: AbortSignal}} [options]
   */
  call(method, input, options) {
    return this.#ops.call(this.#rec, method, input, options);
  }

  /**
   * subscribeState calls listener(state, info) with the actor's state: first
   * from a snapshot, then after every patch, and with a fresh snapshot after
   * each reconnect. info is {snapshot: true} or {snapshot: false, patches}.
   * States are never mutated in place: each update is a new object sharing
   * unchanged parts with the previous one. Returns the unsubscribe function.
   * options.onError receives a SubscriptionError when the server refuses
   * the subscription (without it, the client's onError does).
   */
  subscribeState(listener, options) {
    return this.#ops.subscribeState(this.#rec, listener, options);
  }

  /**
   * on calls listener(payload, info) for each `event` frame named event, with
   * info {actor, actorId, event}. Returns the function that removes it.
   * options.onError receives a SubscriptionError when the server refuses
   * the actor's event subscription (without it, the client's onError does).
   */
  on(event, listener, options) {
    return this.#ops.on(this.#rec, event, listener, options);
  }

  /** The local copy of the state, or undefined until a snapshot arrived. */
  get state() {
    return this.#rec.hasState ? this.#rec.state : undefined;
  }
}
