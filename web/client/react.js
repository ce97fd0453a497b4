// React bindings of the Zocket client: @zocket-go/client/react.
//
//   import { connect } from '@zocket-go/client';
//   import { ZocketProvider, useActor, useActorState, useEvent, useConnectionStatus } from '@zocket-go/client/react';
//
//   const client = connect('wss://example.com/');
//   root.render(<ZocketProvider client={client}><Counter /></ZocketProvider>);
//
//   function Counter() {
//     const counter = useActor('counter', 'main');
//     const count = useActorState(counter, (s) => s.count);
//     useEvent(counter, 'changed', (change) => console.log(change));
//     return <button onClick={() => counter.call('increment')}>{count ?? '…'}</button>;
//   }
//
// The hooks live in react-core.js; this module binds them to the 'react'
// package (a peer dependency, React 18 or later).

import * as ReactModule from 'react';
import { bindReact } from './react-core.js';

// Bundlers give the named exports; Node's ESM loader gives React's CommonJS
// exports as the default only.
const React = typeof ReactModule.useSyncExternalStore === 'function' ? ReactModule : ReactModule.default;

export { shallowEqual, subscriptions } from './react-core.js';

export const {
  ZocketProvider,
  useClient,
  useActor,
  useActorState,
  useEvent,
  useConnectionStatus,
  useClientId,
} = bindReact(React);
