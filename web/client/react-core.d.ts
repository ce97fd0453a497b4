// Type declarations for react-core.js: the React bindings of the Zocket
// client, bound to a React object given at run time (react.js binds them to
// the 'react' package).

import type * as React from 'react';

export { shallowEqual, subscriptions } from './react.js';
export type { Subscriptions, ZocketProviderProps } from './react.js';

/** The hooks and provider of @zocket-go/client/react. */
export type ReactBindings = typeof import('./react.js');

/** Binds the hooks to a React 18 or later: the 'react' module, or the global of a UMD build. */
export declare function bindReact(react: typeof React): ReactBindings;
