// Type declarations for react.js: @zocket-go/client/react, the React
// bindings of the Zocket client. React 18 or later; the types come from
// @types/react.

import type { ReactElement, ReactNode } from 'react';
import type {
  ActorHandle,
  ActorSpec,
  ActorSpecs,
  BaseActorHandle,
  Client,
  ConnectionStatus,
  EventInfo,
  TypedActorHandle,
  TypedClient,
} from './zocket.js';

export interface ZocketProviderProps {
  /** The client the hooks below use; create it once, outside rendering (connect()). */
  client: Client | TypedClient<any>;
  children?: ReactNode;
}

/** Makes client the one that the hooks below it use. */
export declare function ZocketProvider(props: ZocketProviderProps): ReactElement;

/** The client of the nearest ZocketProvider; throws without one. */
export declare function useClient(): Client;
/** The same, typed with the actor types of A: useClient<ZocketActors>().actor('counter', id). */
export declare function useClient<A extends ActorSpecs<A>>(): TypedClient<A>;

/**
 * The handle of the actor (type, id) of the provider's client, the same
 * object on every render for the same arguments. Subscribes to nothing.
 */
export declare function useActor<S = unknown>(type: string, id: string | number): ActorHandle<S>;

/**
 * The actor's state, or undefined until its first snapshot arrived (and when
 * actor is null or undefined). Components using one actor share one
 * state:sub; the last one to unmount sends state:unsub.
 */
export declare function useActorState<S>(actor: BaseActorHandle<S> | null | undefined): S | undefined;
/**
 * selector(state) of the actor, or undefined until its first snapshot. The
 * component re-renders only when the selected value changes by isEqual
 * (Object.is by default; shallowEqual for a selector that builds objects).
 * The selector is only called with a state.
 */
export declare function useActorState<S, T>(
  actor: BaseActorHandle<S> | null | undefined,
  selector: (state: S) => T,
  isEqual?: (a: T, b: T) => boolean,
): T | undefined;

/**
 * Calls listener for every event named event of the actor while the
 * component is mounted; the latest listener is called, so an inline
 * function does not resubscribe. Does nothing while actor is null.
 */
export declare function useEvent<T extends ActorSpec, E extends keyof T['events'] & string>(
  actor: TypedActorHandle<T> | null | undefined,
  event: E,
  listener: (payload: T['events'][E], info: EventInfo) => void,
): void;
export declare function useEvent<P = unknown>(
  actor: ActorHandle<any> | null | undefined,
  event: string,
  listener: (payload: P, info: EventInfo) => void,
): void;

/** The client's status, re-rendering on every change ('connecting' on a server). */
export declare function useConnectionStatus(): ConnectionStatus;

/** The server's id of the current connection (from its welcome), or null. */
export declare function useClientId(): string | null;

/** Object.is, or Object.is of each own property of two objects or arrays. */
export declare function shallowEqual(a: unknown, b: unknown): boolean;

/** What the React bindings hold for one actor: for tests and debugging. */
export interface Subscriptions {
  /** users: components using the state; held: whether state:sub is in force. */
  state: { users: number; held: boolean };
  /** The same per event name, for names in use or still held. */
  events: Record<string, { users: number; held: boolean }>;
}

/**
 * What the React bindings hold for one actor handle. A subscription
 * outlives its last user until the next task, so that StrictMode's
 * unmount and mount again sends no frame.
 */
export declare function subscriptions(actor: BaseActorHandle<any>): Subscriptions;
