// Compiles against the generated declarations (zocket.gen.ts for the
// fixture app, demo.gen.ts for the demo app): what typed use looks like.
import { connect, type ActorHandle, type Client, type TypedActorHandle } from '@zocket-go/client';
import { typedClient as demoClient } from './demo.gen.js';
import {
  typedClient,
  type Doc,
  type List,
  type Page_Point,
  type Point,
  type Scoped2,
  type ZocketActors,
} from './zocket.gen.js';

// The example: client.actor("counter", id).call("set", {value: 1}).
export async function demo(client: Client, id: string): Promise<number> {
  const typed = demoClient(client);
  const counter = typed.actor('counter', id);
  const n: number = await counter.call('set', { value: 1 });
  await counter.call('increment');
  await counter.call('reset', undefined, { timeoutMs: 1000 });
  counter.subscribeState((state) => state.count.toFixed() + state.viewers.toFixed());
  counter.on('changed', (change) => change.by.toUpperCase() + change.count.toFixed());
  const chat = typed.actor('chat', 'lobby');
  const message = await chat.call('send', { text: 'hi' });
  const member = await chat.call('join', { name: 'ada' });
  chat.on('newMessage', (m) => m.text + m.at.toFixed() + member.clientId);
  chat.subscribeState((room) => room.messages.map((m) => m.name + m.id).join() + room.online.length);
  const canvas = typed.actor('canvas', 1);
  const stroke: number = await canvas.call('stroke', { points: [[0.5, 0.5]], color: '#ff0000', width: 2 });
  canvas.subscribeState((board) => board.strokes[0]?.points[0]?.[1]);
  return n + message.id + stroke;
}

export async function fixture(url: string): Promise<void> {
  const client = connect<ZocketActors>(url);
  const docs: TypedActorHandle<ZocketActors['docs']> = client.actor('docs', 'd1');

  // Inputs: none for struct{}, required fields, nullable pointers, a
  // pointer input, all-optional input left out, unknown input.
  const nothing: Record<string, never> = await docs.call('ping');
  await docs.call('ping', undefined, { timeoutMs: 10 });
  const n: number = await docs.call('set', { value: 1 });
  await docs.call('set', { value: null });
  const maybe: number | null = await docs.call('set-ptr', null);
  const page: Page_Point = await docs.call('list');
  await docs.call('list', { limit: 10 });
  await docs.call('list', { cursor: 'c' }, { signal: new AbortController().signal });
  const raw: unknown = await docs.call('raw');
  await docs.call('raw', { anything: [1, 'two'] });
  const moved = await docs.call('move', { to: { x: 1, y: 2 }, Why: 'because' });
  const when: string = await docs.call('when');
  const money: unknown = await docs.call('record', { n: 1 });
  console.log(nothing, n, maybe, page.items[0]?.x, page.next?.y, raw, moved['a']?.[0]?.x, when, money);

  // Events.
  docs.on('changed', (p: Point, info) => p.x + p.y + info.event.length);
  docs.on('moved', (p) => p?.x);
  docs.on('tag-list', (tags) => tags.join());
  docs.on('pinged', () => {});
  docs.on('recorded', (r) => r.n.toFixed());

  // State: every mapping of the fixture.
  docs.subscribeState((doc: Doc, info) => {
    if (!info.snapshot) console.log(info.patches.length);
    const checks: unknown[] = [
      doc.plain satisfies number,
      doc.renamed_name satisfies string,
      doc.NoTag satisfies boolean,
      doc['-'] satisfies number,
      doc.omit satisfies string | undefined,
      doc.omitZero satisfies number | undefined,
      doc.quoted satisfies string,
      doc.quotedPtr satisfies string | null,
      doc.NotQuoted satisfies Point,
      doc['weird-name'] satisfies number,
      doc.BadTag satisfies number,
      doc.ptr satisfies Point | null,
      doc.ptrOmit satisfies Point | null | undefined,
      doc.ptrPtr satisfies number | null,
      doc.slice satisfies Point[],
      doc.slicePtr satisfies (Point | null)[],
      doc.bytes satisfies string,
      doc.byteArray satisfies [number, number, number, number],
      doc.Pair satisfies [number, number],
      doc.long satisfies number[],
      doc.map satisfies Record<string, number>,
      doc.intMap satisfies Record<string, Point>,
      doc.levelMap satisfies Record<string, string>,
      doc.colorMap satisfies Record<string, boolean>,
      doc.nested satisfies Record<string, (Point | null)[]>,
      doc.mapOfMaps satisfies Record<string, Record<string, number>>,
      doc.time satisfies string,
      doc.timePtr satisfies string | null | undefined,
      doc.duration satisfies number,
      doc.raw satisfies unknown,
      doc.number satisfies number,
      doc.money satisfies unknown,
      doc.level satisfies string,
      doc.color satisfies string,
      doc.tags satisfies string[],
      doc.tree?.children[0]?.parent?.value satisfies number | undefined,
      doc.list satisfies List,
      doc.list[0]?.[0]?.[0] satisfies List | undefined,
      doc.anon.x satisfies number,
      doc.anon.y?.x satisfies number | undefined,
      doc.empty satisfies Record<string, never>,
      doc.page.items satisfies Point[],
      doc.pageStr.next satisfies string | null,
      doc.id satisfies string,
      doc.note satisfies string | undefined,
      doc.inner.deep satisfies boolean,
      doc.OnlyLeft satisfies number,
      doc.visible satisfies number,
    ];
    console.log(checks);
  });

  const other = client.actor('other-actor', 'x');
  other.subscribeState((s) => s.doc?.tree?.value);
  const scoped: Scoped2 = await other.call('scopedB');
  console.log(scoped.b, (await other.call('scopedA')).a);

  // A View's state, and presence.
  const lobby = client.actor('lobby', 'l');
  await lobby.call('presence', { cursor: [1, 2] });
  await lobby.call('presence');
  lobby.subscribeState((l) => l.who['client-1']?.userId satisfies string | undefined);
  client.actor('blind', 'b').subscribeState((s: unknown) => s);

  // Untyped use is unchanged, beside the typed one.
  const untyped: ActorHandle<Doc> = connect(url).actor<Doc>('docs', 'd1');
  const r = await untyped.call<number>('anything', { at: 'all' });
  untyped.on<Point>('whatever', (p) => p.x + r);
  typedClient(connect(url)).actor('counter', 'main').on('changed', (c) => c.by);
  client.close();
}
