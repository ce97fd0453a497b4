// Type declarations for zocket.js, the Zocket browser client.

import type { Operation } from './patch.js';

export { applyPatch, PatchError } from './patch.js';
export type { JSONValue, Operation } from './patch.js';

/** Connection states. */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export declare const Status: Readonly<{
  CONNECTING: 'connecting';
  OPEN: 'open';
  RECONNECTING: 'reconnecting';
  CLOSED: 'closed';
}>;

export interface ReconnectOptions {
  /** Backoff before the first retry (before jitter). Default 250. */
  minDelayMs?: number;
  /** Cap of the doubling backoff. Default 10000. */
  maxDelayMs?: number;
}

/** A WebSocket constructor: the browser's, `ws`, or a test double. */
export interface WebSocketConstructor {
  new (url: string): WebSocketLike;
}

/** The part of the WebSocket interface the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface ConnectOptions {
  /**
   * Sent as the `token` query parameter. A function is called before every
   * connection attempt, so it can refresh an expiring token.
   */
  token?: string | null | (() => string | null | Promise<string | null>);
  /** Default timeout of call(), in ms; 0 means none. Default 10000. */
  rpcTimeoutMs?: number;
  /** Backoff between reconnect attempts, or false to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /** WebSocket implementation. Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Receives errors thrown by listeners and protocol problems. Default console.error. */
  onError?: (err: unknown) => void;
}

export interface StatusInfo {
  previous: ConnectionStatus;
  /** Reconnect attempt number, when reconnecting. */
  attempt?: number;
  /** Delay before that attempt, when reconnecting. */
  delayMs?: number;
  /** Close code of the socket that went away, when known. */
  code?: number;
  /** Close reason of the socket that went away, when known. */
  reason?: string;
}

export interface CallOptions {
  /** Overrides the client's rpcTimeoutMs for this call; 0 means none. */
  timeoutMs?: number;
  /** Rejects the call with signal.reason when aborted. */
  signal?: AbortSignal;
}

export type StateInfo =
  | { snapshot: true }
  | { snapshot: false; patches: Operation[] };

export interface EventInfo {
  actor: string;
  actorId: string;
  event: string;
}

/** Removes the listener or subscription it was returned for. Idempotent. */
export type Unsubscribe = () => void;

/** What every handle of an actor instance has, typed (TypedActorHandle) or not (ActorHandle). */
export interface BaseActorHandle<S = unknown> {
  readonly type: string;
  readonly id: string;
  /** The local copy of the state, or undefined until a snapshot arrived. */
  readonly state: S | undefined;
  /**
   * Keeps a local copy of the state (snapshot, then JSON Patches; a fresh
   * snapshot after every reconnect) and calls listener on every change.
   * States are never mutated in place.
   */
  subscribeState(listener: (state: S, info: StateInfo) => void, options?: SubscribeOptions): Unsubscribe;
}

/** One actor instance, addressed by (type, id). Valid across reconnects. */
export interface ActorHandle<S = unknown> extends BaseActorHandle<S> {
  /**
   * Runs a method and resolves with its result. Rejects with RpcError (the
   * server's error message), TimeoutError, DisconnectedError, or the abort
   * reason of options.signal. Calls made while reconnecting wait for the
   * connection, within their timeout.
   */
  call<R = unknown>(method: string, input?: unknown, options?: CallOptions): Promise<R>;
  /** Listens for one event name; the first listener sends event:sub, the last removed sends event:unsub. */
  on<P = unknown>(event: string, listener: (payload: P, info: EventInfo) => void, options?: SubscribeOptions): Unsubscribe;
}

/** One method of an actor type: the type of its input and of its result. */
export interface MethodSpec {
  input: unknown;
  result: unknown;
}

/**
 * The types of one actor type: its state, its methods by name and its
 * events' payloads by name. `zocket gen ts` generates them from the Go app
 * (the ZocketActors interface); they can be written by hand too.
 */
export interface ActorSpec {
  state: unknown;
  methods: { [method: string]: MethodSpec };
  events: { [event: string]: unknown };
}

/** A map of actor type names to their ActorSpec, such as the generated ZocketActors. */
export type ActorSpecs<A> = { [K in keyof A]: ActorSpec };

/**
 * The arguments of call() after the method name, for a method whose input
 * is I: none for void (a Go method taking struct{}), optional when every
 * property of I is, else required; then the CallOptions.
 */
export type CallArgs<I> = [I] extends [void]
  ? [input?: undefined, options?: CallOptions]
  : {} extends I
    ? [input?: I, options?: CallOptions]
    : [input: I, options?: CallOptions];

/**
 * An ActorHandle whose methods, inputs, results, events and state are
 * those of the actor type's spec T: a wrong method name, input or event is
 * a compile error. The same object as client.actor(type, id) at run time.
 */
export interface TypedActorHandle<T extends ActorSpec> extends BaseActorHandle<T['state']> {
  /** ActorHandle.call, checked: the method must exist, and input fit its input type. */
  call<M extends keyof T['methods'] & string>(
    method: M,
    ...args: CallArgs<T['methods'][M]['input']>
  ): Promise<T['methods'][M]['result']>;
  /** ActorHandle.on, checked: the event must be declared; the listener gets its payload type. */
  on<E extends keyof T['events'] & string>(
    event: E,
    listener: (payload: T['events'][E], info: EventInfo) => void,
    options?: SubscribeOptions,
  ): Unsubscribe;
}

/**
 * A Client whose actor(type, id) knows the actor types of A (for example
 * the generated ZocketActors) and returns TypedActorHandles. The same
 * object as the Client at run time: connect<ZocketActors>(url), or
 * typedClient(client) of the generated file.
 */
export interface TypedClient<A extends ActorSpecs<A>> extends Omit<Client, 'actor'> {
  /** Client.actor, checked: type must be one of A's actor types. */
  actor<K extends keyof A & string>(type: K, id: string | number): TypedActorHandle<A[K]>;
}

/** One logical connection; reconnects on its own until close(). */
export declare class Client {
  constructor(url?: string | URL, options?: ConnectOptions);
  /** The server's id for the current connection (from `welcome`), or null. */
  readonly clientId: string | null;
  /** 'open' from the moment the socket opens, a little before the welcome brings clientId. */
  readonly status: ConnectionStatus;
  /** The server URL, without the token. */
  readonly url: string;
  /** Resolves with the first clientId; rejects if closed before any welcome. */
  readonly ready: Promise<string>;
  onStatus(listener: (status: ConnectionStatus, info: StatusInfo) => void): Unsubscribe;
  /** Called with the clientId on every welcome, including after reconnects. */
  onWelcome(listener: (clientId: string) => void): Unsubscribe;
  /** The handle of one actor instance; the same (type, id) gives the same handle. */
  actor<S = unknown>(type: string, id: string | number): ActorHandle<S>;
  /** Stops for good: closes the socket, stops reconnecting, rejects pending calls. */
  close(): void;
}

/** Creates a Client and starts connecting. url defaults to the page's host at "/". */
export declare function connect(url?: string | URL, options?: ConnectOptions): Client;
/** connect, typed with the actor types of A: connect<ZocketActors>(url) with the generated ZocketActors. */
export declare function connect<A extends ActorSpecs<A>>(url?: string | URL, options?: ConnectOptions): TypedClient<A>;

export interface ErrorDetails {
  actor?: string;
  actorId?: string;
  method?: string;
}

/** Base class of the errors this client creates. */
export declare class ZocketError extends Error implements ErrorDetails {
  constructor(message: string, details?: ErrorDetails);
  actor?: string;
  actorId?: string;
  method?: string;
}

/** The server answered the call with an error; message is the server's `error` string. */
export declare class RpcError extends ZocketError {}

/** The call got no answer within its timeout. */
export declare class TimeoutError extends ZocketError {}

/** The connection dropped after the call was sent, or the client was closed. */
export declare class DisconnectedError extends ZocketError {}

/** The server refused a subscription (a `sub:error` frame); message is its reason. */
export declare class SubscriptionError extends ZocketError {
  refused?: 'state:sub' | 'event:sub';
}

export interface SubscribeOptions {
  /** Receives the SubscriptionError when the server refuses the subscription; without it the client's onError does. */
  onError?: (err: SubscriptionError) => void;
}
