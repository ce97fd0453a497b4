#!/usr/bin/env bash
# The package as people get it: `npm pack` this folder, install the tarball
# into a fresh project (with react, react-dom, their @types and typescript from the
# registry), type-check a TypeScript file that uses every entry point
# (".", "./patch", "./react", "./react-core") under both "nodenext" and
# "bundler" module resolution, and import each entry in Node. It catches a
# file missing from "files", a wrong "exports" path and declarations that do
# not compile or type-check as documented.
#
#   web/client/test/pack.sh            (needs node and npm; TYPESCRIPT=5 picks the tsc major)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/zocket-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== npm pack"
tarball=$(cd "$here" && npm pack --silent --pack-destination "$work" | tail -n 1)
tar -tzf "$work/$tarball" | sort

echo "== npm install into a fresh project"
mkdir "$work/app"
cd "$work/app"
cat >package.json <<'EOF'
{ "name": "zocket-pack-test", "private": true, "type": "module" }
EOF
npm install --no-audit --no-fund --loglevel=error \
  "$work/$tarball" react@19 react-dom@19 @types/react@19 @types/react-dom@19 "typescript@${TYPESCRIPT:-5}"

mkdir src
cat >src/client.ts <<'EOF'
import {
  applyPatch,
  connect,
  DisconnectedError,
  RpcError,
  Status,
  TimeoutError,
  ZocketError,
  type ActorHandle,
  type Client,
  type TypedActorHandle,
  type TypedClient,
  type ConnectionStatus,
  type StateInfo,
} from '@zocket-go/client';
import { applyPatch as applyPatch2, type Operation } from '@zocket-go/client/patch';

interface Counter {
  count: number;
  viewers: number;
}

export function use(url: string): Client {
  const client: Client = connect(url, { token: () => 'token', rpcTimeoutMs: 5000, reconnect: { minDelayMs: 100 } });
  const counter: ActorHandle<Counter> = client.actor<Counter>('counter', 'main');
  const stop = counter.subscribeState((state: Counter, info: StateInfo) => {
    const n: number = state.count;
    if (!info.snapshot) console.log(info.patches.length, n);
  });
  stop();
  counter.call<number>('increment').then((n) => n.toFixed(), (err: unknown) => {
    if (err instanceof RpcError || err instanceof TimeoutError || err instanceof DisconnectedError) return err.method;
    return err instanceof ZocketError ? err.actor : undefined;
  });
  const status: ConnectionStatus = client.status;
  if (status === Status.OPEN) client.close();
  const ops: Operation[] = [{ op: 'replace', path: '/count', value: 1 }];
  applyPatch(applyPatch2({ count: 0 }, ops), []);
  // @ts-expect-error: the state is typed
  const wrong: string = counter.state?.count;
  return client;
}

// The typed client, with a map of actor types as zocket gen ts writes it.
interface Actors {
  counter: {
    state: Counter;
    methods: { increment: { input: void; result: number }; set: { input: { value: number | null }; result: number } };
    events: { changed: { count: number; by: string } };
  };
}

export async function typed(url: string): Promise<number> {
  const client: TypedClient<Actors> = connect<Actors>(url);
  const counter: TypedActorHandle<Actors['counter']> = client.actor('counter', 'main');
  counter.on('changed', (change) => change.by.toUpperCase());
  counter.subscribeState((state) => state.viewers.toFixed());
  // @ts-expect-error: no such method
  await counter.call('sett', { value: 1 });
  // @ts-expect-error: no such input field
  await counter.call('set', { valu: 1 });
  // @ts-expect-error: no such actor type
  client.actor('countr', 'main');
  await counter.call('increment');
  return counter.call('set', { value: 1 });
}
EOF
cat >src/app.tsx <<'EOF'
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { connect } from '@zocket-go/client';
import {
  shallowEqual,
  subscriptions,
  useActor,
  useActorState,
  useClient,
  useClientId,
  useConnectionStatus,
  useEvent,
  ZocketProvider,
  type Subscriptions,
} from '@zocket-go/client/react';
import { bindReact, type ReactBindings } from '@zocket-go/client/react-core';
import * as React from 'react';

interface Counter {
  count: number;
  viewers: number;
}
interface Change {
  count: number;
  by: string;
}

function CounterView({ id }: { id: string }) {
  const counter = useActor<Counter>('counter', id);
  const count: number | undefined = useActorState(counter, (s) => s.count);
  const both = useActorState(counter, (s) => ({ count: s.count, viewers: s.viewers }), shallowEqual);
  const whole: Counter | undefined = useActorState(counter);
  const [last, setLast] = useState<Change | null>(null);
  useEvent<Change>(counter, 'changed', (change, info) => setLast(info.event === 'changed' ? change : null));
  // @ts-expect-error: the selection is a number
  const wrong: string | undefined = useActorState(counter, (s) => s.count);
  const status: 'connecting' | 'open' | 'reconnecting' | 'closed' = useConnectionStatus();
  const clientId: string | null = useClientId();
  const held: Subscriptions = subscriptions(counter);
  useClient().actor('chat', 'lobby');
  return (
    <button onClick={() => void counter.call('increment')}>
      {count ?? '…'} {both?.viewers} {whole?.count} {last?.by} {status} {clientId} {held.state.users}
    </button>
  );
}

interface Actors {
  counter: {
    state: Counter;
    methods: { increment: { input: void; result: number } };
    events: { changed: Change };
  };
}

function TypedCounterView({ id }: { id: string }) {
  const counter = useClient<Actors>().actor('counter', id);
  const count: number | undefined = useActorState(counter, (s) => s.count);
  useEvent(counter, 'changed', (change) => change.by.toUpperCase());
  // @ts-expect-error: the event is not declared
  useEvent(counter, 'chnged', () => {});
  return <button onClick={() => void counter.call('increment')}>{count ?? '…'}</button>;
}

const bound: ReactBindings = bindReact(React);
bound.useConnectionStatus satisfies () => string;

const client = connect('ws://localhost:3000/');
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ZocketProvider client={client}>
      <CounterView id="main" />
      <ZocketProvider client={connect<Actors>('ws://localhost:3000/')}>
        <TypedCounterView id="main" />
      </ZocketProvider>
    </ZocketProvider>
  </StrictMode>,
);
EOF

for resolution in nodenext bundler; do
  module=$([ "$resolution" = bundler ] && echo esnext || echo nodenext)
  cat >"tsconfig.$resolution.json" <<EOF
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "target": "es2022",
    "lib": ["es2022", "dom"],
    "module": "$module",
    "moduleResolution": "$resolution",
    "jsx": "react-jsx",
    "types": []
  },
  "include": ["src"]
}
EOF
  echo "== tsc --noEmit, moduleResolution $resolution ($(npx tsc --version))"
  npx tsc -p "tsconfig.$resolution.json"
done

echo "== import every entry in Node"
node --input-type=module -e "
const entries = ['@zocket-go/client', '@zocket-go/client/patch', '@zocket-go/client/react', '@zocket-go/client/react-core'];
for (const e of entries) {
  const m = await import(e);
  console.log(e + ':', Object.keys(m).sort().join(' '));
}
const { useActorState } = await import('@zocket-go/client/react');
if (typeof useActorState !== 'function') throw new Error('useActorState is not a function');
"
echo "== pack test passed"
