// React bindings of the Zocket client, written against the React object they
// are given rather than an import of 'react': react.js binds them to the
// 'react' package for bundlers and Node, and a page without a bundler can
// bind them to the React it loaded some other way (the React demo page does).
//
//   import { bindReact } from '/react-core.js';
//   const { ZocketProvider, useActor, useActorState } = bindReact(window.React);
//
// Every hook reads the client through useSyncExternalStore, so a render
// never sees a state torn between components, in concurrent rendering too.
// Components share one subscription per actor (and one listener per event
// name), counted: the first component sends state:sub (event:sub), the last
// one to unmount sends state:unsub (event:unsub). The release waits for the
// next task, so StrictMode's mount, unmount and mount again, or a component
// remounted under a new key in the same commit, sends nothing at all.

/**
 * How long a released subscription is kept before it is dropped, in ms:
 * StrictMode remounts and same-commit remounts happen synchronously, so the
 * next task is late enough.
 */
const RELEASE_DELAY_MS = 0;

/**
 * Lease shares one underlying subscription among any number of users: start
 * is called (with the function that fans out to the users) when the first
 * user arrives, and the function it returned is called once the last user
 * has been gone for RELEASE_DELAY_MS.
 */
class Lease {
  #start;
  #stop = null;
  #timer = null;
  #users = new Set();

  constructor(start) {
    this.#start = start;
  }

  /** Adds a user; returns the function that removes it (idempotent). */
  add(fn) {
    const user = { fn };
    this.#users.add(user);
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#stop === null) this.#stop = this.#start((...args) => this.#emit(args));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#users.delete(user);
      if (this.#users.size === 0 && this.#stop !== null && this.#timer === null) {
        this.#timer = setTimeout(() => {
          this.#timer = null;
          if (this.#users.size > 0 || this.#stop === null) return;
          const stop = this.#stop;
          this.#stop = null;
          stop();
        }, RELEASE_DELAY_MS);
      }
    };
  }

  /** The number of users: components subscribed right now. */
  get users() {
    return this.#users.size;
  }

  /** Whether the underlying subscription is held. */
  get held() {
    return this.#stop !== null;
  }

  // Calls every user, even when one throws; the first error is rethrown
  // afterwards, so the client reports it through its onError.
  #emit(args) {
    let failed = false;
    let first;
    for (const user of [...this.#users]) {
      if (!this.#users.has(user)) continue;
      try {
        user.fn(...args);
      } catch (err) {
        if (!failed) first = err;
        failed = true;
      }
    }
    if (failed) throw first;
  }
}

// ActorHandle -> { state: Lease, events: Map<event name, Lease> }. Handles
// are per client and stable for (type, id), so this is per client too.
const leases = new WeakMap();

function leasesOf(actor) {
  let l = leases.get(actor);
  if (!l) {
    l = {
      state: new Lease((emit) => actor.subscribeState(() => emit())),
      events: new Map(),
    };
    leases.set(actor, l);
  }
  return l;
}

function eventLease(actor, event) {
  const { events } = leasesOf(actor);
  let lease = events.get(event);
  if (!lease) {
    lease = new Lease((emit) => actor.on(event, emit));
    events.set(event, lease);
  }
  return lease;
}

/**
 * subscriptions reports what the React bindings hold for one actor handle:
 * how many components use its state and each event, and whether the
 * client-side subscriptions are held (they outlive the last user by
 * RELEASE_DELAY_MS). For tests and debugging.
 */
export function subscriptions(actor) {
  const l = leases.get(actor);
  const events = {};
  if (l) {
    for (const [name, lease] of l.events) {
      if (lease.users > 0 || lease.held) events[name] = { users: lease.users, held: lease.held };
    }
  }
  return {
    state: { users: l?.state.users ?? 0, held: l?.state.held ?? false },
    events,
  };
}

/**
 * shallowEqual compares two values by Object.is, and two plain objects or
 * arrays by Object.is of each own enumerable property: the isEqual to pass
 * with a selector that builds a new object or array from the state.
 */
export function shallowEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !Object.is(a[k], b[k])) return false;
  }
  return true;
}

const identity = (s) => s;
const noop = () => {};
const noSubscription = () => noop;

/**
 * bindReact returns the hooks and the provider, bound to the React given
 * (React 18 or later: the object `import * as React from 'react'` gives, or
 * the global of a UMD build).
 */
export function bindReact(React) {
  if (!React || typeof React.useSyncExternalStore !== 'function') {
    throw new TypeError('zocket: bindReact needs React 18 or later (useSyncExternalStore)');
  }
  const {
    createContext,
    createElement,
    useCallback,
    useContext,
    useDebugValue,
    useEffect,
    useMemo,
    useRef,
    useSyncExternalStore,
  } = React;
  // Keeps a ref on the latest listener without rendering side effects.
  const useLatestEffect = React.useInsertionEffect ?? React.useLayoutEffect;

  const ClientContext = createContext(null);
  ClientContext.displayName = 'ZocketClient';

  /** ZocketProvider makes client the one that the hooks below it use. */
  function ZocketProvider({ client, children }) {
    if (!client || typeof client.actor !== 'function') {
      throw new TypeError('zocket: ZocketProvider needs a client prop (from connect())');
    }
    return createElement(ClientContext.Provider, { value: client }, children);
  }

  /** useClient returns the client of the nearest ZocketProvider. */
  function useClient() {
    const client = useContext(ClientContext);
    if (client === null) throw new Error('zocket: no client here: wrap the tree in <ZocketProvider client={client}>');
    return client;
  }

  /**
   * useActor returns the handle of the actor (type, id) of the provider's
   * client: the same object on every render for the same arguments. It
   * subscribes to nothing by itself.
   */
  function useActor(type, id) {
    const client = useClient();
    return useMemo(() => client.actor(type, id), [client, type, id]);
  }

  /**
   * useActorState returns selector(state) of the actor (the state itself
   * without a selector), or undefined until its first snapshot arrived (and
   * when actor is null or undefined). The component re-renders only when
   * the selected value changes by isEqual (Object.is by default; pass
   * shallowEqual for a selector that builds objects).
   */
  function useActorState(actor, selector, isEqual) {
    const lease = actor ? leasesOf(actor).state : null;
    const subscribe = useCallback((onChange) => lease.add(onChange), [lease]);
    const getState = useCallback(() => actor.state, [actor]);
    const value = useSelected(
      lease ? subscribe : noSubscription,
      lease ? getState : noop,
      selector ?? identity,
      isEqual ?? Object.is,
    );
    useDebugValue(value);
    return value;
  }

  // useSelected is useSyncExternalStore with a selector: getSnapshot returns
  // the previous selection while the state is the same object or the new
  // selection isEqual to it, so an unrelated change renders nothing. The
  // selector runs only on a defined state.
  function useSelected(subscribe, getState, selector, isEqual) {
    const committed = useRef(null); // {value} of the last committed render
    const getSelection = useMemo(() => {
      let has = false;
      let lastState;
      let lastValue;
      return () => {
        const state = getState();
        if (has && Object.is(state, lastState)) return lastValue;
        const next = state === undefined ? undefined : selector(state);
        const prev = has ? { value: lastValue } : committed.current;
        has = true;
        lastState = state;
        if (prev !== null && prev.value !== undefined && next !== undefined && isEqual(prev.value, next)) {
          lastValue = prev.value;
        } else {
          lastValue = next;
        }
        return lastValue;
      };
    }, [getState, selector, isEqual]);
    const value = useSyncExternalStore(subscribe, getSelection, noop);
    useEffect(() => {
      committed.current = { value };
    }, [value]);
    return value;
  }

  /**
   * useEvent calls listener(payload, info) for every event named event of
   * the actor while the component is mounted. The latest listener is
   * called, so an inline function does not resubscribe on each render.
   */
  function useEvent(actor, event, listener) {
    const latest = useRef(listener);
    useLatestEffect(() => {
      latest.current = listener;
    });
    useEffect(() => {
      if (!actor || typeof event !== 'string' || event === '') return undefined;
      return eventLease(actor, event).add((payload, info) => {
        const fn = latest.current;
        if (typeof fn === 'function') fn(payload, info);
      });
    }, [actor, event]);
  }

  /**
   * useConnectionStatus returns the client's status: 'connecting', 'open',
   * 'reconnecting' or 'closed' ('connecting' when rendered on a server).
   */
  function useConnectionStatus() {
    const client = useClient();
    const subscribe = useCallback((onChange) => client.onStatus(() => onChange()), [client]);
    const status = useSyncExternalStore(subscribe, () => client.status, () => 'connecting');
    useDebugValue(status);
    return status;
  }

  /**
   * useClientId returns the server's id of the current connection, from
   * its welcome, or null (while connecting, reconnecting or closed).
   */
  function useClientId() {
    const client = useClient();
    const subscribe = useCallback(
      (onChange) => {
        const offStatus = client.onStatus(() => onChange());
        const offWelcome = client.onWelcome(() => onChange());
        return () => {
          offStatus();
          offWelcome();
        };
      },
      [client],
    );
    return useSyncExternalStore(subscribe, () => client.clientId, () => null);
  }

  return {
    ZocketProvider,
    useClient,
    useActor,
    useActorState,
    useEvent,
    useConnectionStatus,
    useClientId,
    shallowEqual,
    subscriptions,
  };
}
