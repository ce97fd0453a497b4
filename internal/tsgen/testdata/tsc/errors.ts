// Mistakes the generated declarations turn into compile errors. Each
// "@ts-expect-error TSnnnn" line fails the compilation if the next line
// compiles; the test also compiles this file without the directives and
// checks that each of those lines fails with that error code, and no other
// line fails.
import { connect } from '@zocket-go/client';
import { typedClient as demoClient } from './demo.gen.js';
import { type ZocketActors } from './zocket.gen.js';

export async function mistakes(url: string): Promise<unknown[]> {
  const counter = demoClient(connect(url)).actor('counter', 'main');
  // @ts-expect-error TS2345 wrong method name
  await counter.call('sett', { value: 1 });
  // @ts-expect-error TS2561 wrong input field
  await counter.call('set', { valu: 1 });
  // @ts-expect-error TS2322 wrong input field type
  await counter.call('set', { value: '1' });
  // @ts-expect-error TS2554 missing input
  await counter.call('set');
  // @ts-expect-error TS2345 input to a method without input
  await counter.call('increment', { by: 2 });
  // @ts-expect-error TS2322 wrong result use
  const s: string = await counter.call('set', { value: 1 });
  // @ts-expect-error TS2345 wrong event name
  counter.on('chnged', () => {});
  // @ts-expect-error TS2345 wrong event payload type
  counter.on('changed', (change: number) => change);
  // @ts-expect-error TS2322 wrong use of an event payload field
  counter.on('changed', (change) => { const by: number = change.by; return by; });
  // @ts-expect-error TS2339 no such state property
  counter.subscribeState((state) => state.total);
  // @ts-expect-error TS2344 untyped generic call on a typed handle
  await counter.call<number>('increment');

  const client = connect<ZocketActors>(url);
  // @ts-expect-error TS2345 wrong actor type
  client.actor('dox', 'd1');
  const docs = client.actor('docs', 'd1');
  // @ts-expect-error TS2345 input to a method without input
  await docs.call('ping', {});
  // @ts-expect-error TS2551 wrong result property (did you mean)
  const items = (await docs.call('list')).itemz;
  // @ts-expect-error TS2345 a pointer input takes null, not undefined
  await docs.call('set-ptr', undefined);
  // @ts-expect-error TS18047 a pointer payload may be null
  docs.on('moved', (p) => p.x);
  // @ts-expect-error TS2339 wrong event payload field
  docs.on('changed', (p) => p.z);
  // @ts-expect-error TS2322 an omitempty property may be absent
  docs.subscribeState((doc) => { const omit: string = doc.omit; return omit; });
  // @ts-expect-error TS2322 a ",string" number is a string
  docs.subscribeState((doc) => { const q: number = doc.quoted; return q; });
  // @ts-expect-error TS2322 an inline struct input: Why is a string
  await docs.call('move', { to: { x: 1, y: 2 }, Why: 3 });
  // @ts-expect-error TS2339 a View's state is the view's type, not the state's
  client.actor('lobby', 'l').subscribeState((l) => l.password);
  // @ts-expect-error TS18046 a view that returns nil for a fresh state: unknown
  client.actor('blind', 'b').subscribeState((s) => s.password);
  return [s, items];
}
