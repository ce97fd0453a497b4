import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  applyPatch,
  deepEqual,
  formatPointer,
  getPointer,
  parsePointer,
  PatchError,
} from '../patch.js';

// deepFreeze makes any accidental in-place mutation of the input throw.
function deepFreeze(v) {
  if (v !== null && typeof v === 'object') {
    Object.values(v).forEach(deepFreeze);
    Object.freeze(v);
  }
  return v;
}

const cases = [
  {
    name: 'add a key to a nested object',
    doc: { a: { b: 1 } },
    patch: [{ op: 'add', path: '/a/c', value: { d: [1] } }],
    want: { a: { b: 1, c: { d: [1] } } },
  },
  {
    name: 'add replaces an existing key',
    doc: { a: 1 },
    patch: [{ op: 'add', path: '/a', value: 2 }],
    want: { a: 2 },
  },
  {
    name: 'add with - appends to an array',
    doc: { list: [1, 2] },
    patch: [{ op: 'add', path: '/list/-', value: 3 }],
    want: { list: [1, 2, 3] },
  },
  {
    name: 'add at an index shifts the rest right',
    doc: { list: ['a', 'b', 'c'] },
    patch: [{ op: 'add', path: '/list/1', value: 'x' }],
    want: { list: ['a', 'x', 'b', 'c'] },
  },
  {
    name: 'add at index == length appends',
    doc: { list: ['a'] },
    patch: [{ op: 'add', path: '/list/1', value: 'b' }],
    want: { list: ['a', 'b'] },
  },
  {
    name: 'add into an object inside an array',
    doc: { messages: [{ id: 1 }, { id: 2 }] },
    patch: [{ op: 'add', path: '/messages/1/text', value: 'hi' }],
    want: { messages: [{ id: 1 }, { id: 2, text: 'hi' }] },
  },
  {
    name: 'remove a nested key',
    doc: { a: { b: 1, c: 2 } },
    patch: [{ op: 'remove', path: '/a/b' }],
    want: { a: { c: 2 } },
  },
  {
    name: 'remove an array element shifts the rest left',
    doc: { list: [0, 1, 2, 3] },
    patch: [{ op: 'remove', path: '/list/1' }],
    want: { list: [0, 2, 3] },
  },
  {
    name: 'remove several elements from the end, in order',
    doc: { list: [0, 1, 2, 3] },
    patch: [
      { op: 'remove', path: '/list/3' },
      { op: 'remove', path: '/list/2' },
    ],
    want: { list: [0, 1] },
  },
  {
    name: 'replace a nested value',
    doc: { online: [{ clientId: 'a', name: 'Ann' }] },
    patch: [{ op: 'replace', path: '/online/0/name', value: 'Anna' }],
    want: { online: [{ clientId: 'a', name: 'Anna' }] },
  },
  {
    name: 'replace with null and with a container',
    doc: { a: 1, b: 2 },
    patch: [
      { op: 'replace', path: '/a', value: null },
      { op: 'replace', path: '/b', value: { c: [] } },
    ],
    want: { a: null, b: { c: [] } },
  },
  {
    name: 'replace the root',
    doc: { count: 1 },
    patch: [{ op: 'replace', path: '', value: { count: 2, viewers: 1 } }],
    want: { count: 2, viewers: 1 },
  },
  {
    name: 'add at the root replaces the document',
    doc: [1, 2],
    patch: [{ op: 'add', path: '', value: 'x' }],
    want: 'x',
  },
  {
    name: 'a root that was null becomes an object',
    doc: null,
    patch: [{ op: 'replace', path: '', value: { a: 1 } }],
    want: { a: 1 },
  },
  {
    name: '~1 escapes a slash in a key',
    doc: { 'a/b': 1 },
    patch: [{ op: 'replace', path: '/a~1b', value: 2 }],
    want: { 'a/b': 2 },
  },
  {
    name: '~0 escapes a tilde in a key',
    doc: {},
    patch: [{ op: 'add', path: '/~0x', value: true }],
    want: { '~x': true },
  },
  {
    name: '~01 is a tilde followed by 1, not a slash',
    doc: { '~1': 'tilde-one', '/': 'slash' },
    patch: [{ op: 'remove', path: '/~01' }],
    want: { '/': 'slash' },
  },
  {
    name: 'empty key is a valid token',
    doc: { '': { '': 1 } },
    patch: [{ op: 'replace', path: '//', value: 2 }],
    want: { '': { '': 2 } },
  },
  {
    name: 'numeric-looking object keys are keys, not indexes',
    doc: { byId: { 0: 'zero' } },
    patch: [{ op: 'add', path: '/byId/10', value: 'ten' }],
    want: { byId: { 0: 'zero', 10: 'ten' } },
  },
  {
    name: 'move an element within an array',
    doc: { list: ['a', 'b', 'c'] },
    patch: [{ op: 'move', from: '/list/0', path: '/list/-' }],
    want: { list: ['b', 'c', 'a'] },
  },
  {
    name: 'move a key between objects',
    doc: { a: { x: 1 }, b: {} },
    patch: [{ op: 'move', from: '/a/x', path: '/b/y' }],
    want: { a: {}, b: { y: 1 } },
  },
  {
    name: 'copy a subtree',
    doc: { a: { x: [1] } },
    patch: [{ op: 'copy', from: '/a', path: '/b' }],
    want: { a: { x: [1] }, b: { x: [1] } },
  },
  {
    name: 'test that passes is a no-op',
    doc: { a: { b: [1, { c: 2 }] } },
    patch: [{ op: 'test', path: '/a', value: { b: [1, { c: 2 }] } }],
    want: { a: { b: [1, { c: 2 }] } },
  },
  {
    name: 'operations see the results of earlier ones',
    doc: { strokes: [] },
    patch: [
      { op: 'add', path: '/strokes/-', value: { id: 's1', points: [] } },
      { op: 'add', path: '/strokes/0/points/-', value: [0.5, 0.5] },
      { op: 'replace', path: '/strokes/0/id', value: 's2' },
    ],
    want: { strokes: [{ id: 's2', points: [[0.5, 0.5]] }] },
  },
  {
    name: 'an empty patch returns the same document',
    doc: { a: 1 },
    patch: [],
    want: { a: 1 },
  },
];

for (const c of cases) {
  test(`applyPatch: ${c.name}`, () => {
    const before = structuredClone(c.doc);
    const doc = deepFreeze(structuredClone(c.doc));
    const patch = deepFreeze(structuredClone(c.patch));
    const got = applyPatch(doc, patch);
    assert.deepStrictEqual(got, c.want);
    assert.deepStrictEqual(doc, before, 'input document was modified');
  });
}

const failures = [
  { name: 'replace of a missing key', doc: { a: 1 }, patch: [{ op: 'replace', path: '/b', value: 1 }] },
  { name: 'remove of a missing key', doc: { a: 1 }, patch: [{ op: 'remove', path: '/b' }] },
  { name: 'remove of an index past the end', doc: { l: [1] }, patch: [{ op: 'remove', path: '/l/1' }] },
  { name: 'remove with -', doc: { l: [1] }, patch: [{ op: 'remove', path: '/l/-' }] },
  { name: 'remove the root', doc: { a: 1 }, patch: [{ op: 'remove', path: '' }] },
  { name: 'add through a missing parent', doc: {}, patch: [{ op: 'add', path: '/a/b', value: 1 }] },
  { name: 'add through a primitive', doc: { a: 1 }, patch: [{ op: 'add', path: '/a/b', value: 1 }] },
  { name: 'add past the end of an array', doc: { l: [] }, patch: [{ op: 'add', path: '/l/1', value: 1 }] },
  { name: 'add with a negative index', doc: { l: [1] }, patch: [{ op: 'add', path: '/l/-1', value: 1 }] },
  { name: 'add with a leading zero index', doc: { l: [1, 2] }, patch: [{ op: 'add', path: '/l/01', value: 1 }] },
  { name: 'add with a non-numeric index', doc: { l: [1] }, patch: [{ op: 'add', path: '/l/x', value: 1 }] },
  { name: 'add without a value', doc: {}, patch: [{ op: 'add', path: '/a' }] },
  { name: 'replace without a value', doc: { a: 1 }, patch: [{ op: 'replace', path: '/a' }] },
  { name: 'path without a leading slash', doc: { a: 1 }, patch: [{ op: 'replace', path: 'a', value: 2 }] },
  { name: 'bad ~ escape', doc: { '~2': 1 }, patch: [{ op: 'remove', path: '/~2' }] },
  { name: 'trailing ~', doc: { '~': 1 }, patch: [{ op: 'remove', path: '/~' }] },
  { name: 'unknown op', doc: {}, patch: [{ op: 'merge', path: '/a', value: 1 }] },
  { name: 'operation that is not an object', doc: {}, patch: ['add'] },
  { name: 'path that is not a string', doc: {}, patch: [{ op: 'add', path: 3, value: 1 }] },
  { name: 'failed test', doc: { a: 1 }, patch: [{ op: 'test', path: '/a', value: 2 }] },
  { name: 'move into its own child', doc: { a: { b: {} } }, patch: [{ op: 'move', from: '/a', path: '/a/b/c' }] },
  { name: 'move from a missing path', doc: {}, patch: [{ op: 'move', from: '/x', path: '/y' }] },
  { name: 'copy from a missing path', doc: {}, patch: [{ op: 'copy', from: '/x', path: '/y' }] },
  { name: 'inherited properties are not members', doc: {}, patch: [{ op: 'remove', path: '/toString' }] },
  { name: 'patch that is not an array', doc: {}, patch: { op: 'add', path: '/a', value: 1 } },
];

for (const c of failures) {
  test(`applyPatch fails: ${c.name}`, () => {
    const before = structuredClone(c.doc);
    assert.throws(() => applyPatch(c.doc, c.patch), PatchError);
    assert.deepStrictEqual(c.doc, before);
  });
}

test('applyPatch is all or nothing and reports the failing operation', () => {
  const doc = { a: 1, l: [1, 2] };
  const patch = [
    { op: 'replace', path: '/a', value: 2 },
    { op: 'add', path: '/l/-', value: 3 },
    { op: 'remove', path: '/missing' },
  ];
  let err;
  try {
    applyPatch(doc, patch);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PatchError);
  assert.equal(err.index, 2);
  assert.equal(err.operation, patch[2]);
  assert.match(err.message, /operation 2 \(remove "\/missing"\)/);
  assert.deepStrictEqual(doc, { a: 1, l: [1, 2] });
});

test('applyPatch shares untouched subtrees with the previous document', () => {
  const doc = { strokes: [{ id: 1 }, { id: 2 }], meta: { title: 't' } };
  const next = applyPatch(doc, [{ op: 'add', path: '/strokes/-', value: { id: 3 } }]);
  assert.notEqual(next, doc);
  assert.notEqual(next.strokes, doc.strokes);
  assert.equal(next.meta, doc.meta);
  assert.equal(next.strokes[0], doc.strokes[0]);
  assert.equal(next.strokes[1], doc.strokes[1]);
});

test('applyPatch never mutates patch values placed in the document', () => {
  const value = { points: [] };
  const patch = [
    { op: 'add', path: '/s', value },
    { op: 'add', path: '/s/points/-', value: [0, 0] },
  ];
  const got = applyPatch({}, patch);
  assert.deepStrictEqual(got, { s: { points: [[0, 0]] } });
  assert.deepStrictEqual(value, { points: [] });
});

test('applyPatch treats __proto__ as an ordinary key', () => {
  const got = applyPatch({}, JSON.parse('[{"op":"add","path":"/__proto__","value":{"polluted":true}}]'));
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal({}.polluted, undefined);
  assert.deepStrictEqual(Object.keys(got), ['__proto__']);
  const removed = applyPatch(got, [{ op: 'remove', path: '/__proto__' }]);
  assert.deepStrictEqual(Object.keys(removed), []);
});

test('parsePointer and formatPointer round-trip escapes', () => {
  assert.deepStrictEqual(parsePointer(''), []);
  assert.deepStrictEqual(parsePointer('/'), ['']);
  assert.deepStrictEqual(parsePointer('/a~1b/~0/~01'), ['a/b', '~', '~1']);
  assert.equal(formatPointer(['a/b', '~', '~1', 0]), '/a~1b/~0/~01/0');
  for (const tokens of [[], [''], ['a/b', '~/~'], ['x', '0', '-']]) {
    assert.deepStrictEqual(parsePointer(formatPointer(tokens)), tokens);
  }
});

test('getPointer reads values and returns undefined for missing ones', () => {
  const doc = { a: [{ 'b/c': null }], '~': 1 };
  assert.equal(getPointer(doc, ''), doc);
  assert.equal(getPointer(doc, '/a/0/b~1c'), null);
  assert.equal(getPointer(doc, '/~0'), 1);
  assert.equal(getPointer(doc, '/a/1'), undefined);
  assert.equal(getPointer(doc, '/a/-'), undefined);
  assert.equal(getPointer(doc, '/nope/deeper'), undefined);
});

test('deepEqual compares JSON structurally', () => {
  assert.ok(deepEqual({ a: [1, { b: 2 }], c: null }, { c: null, a: [1, { b: 2 }] }));
  assert.ok(!deepEqual({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!deepEqual([1], { 0: 1 }));
  assert.ok(!deepEqual(null, {}));
  assert.ok(!deepEqual([1, 2], [1, 2, 3]));
});

// ---- randomized: diff two random documents, apply, compare ----

// mulberry32: a small seeded PRNG, so a failure reproduces from its seed.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ['a', 'b', 'c', 'x/y', '~t', '', '0', '__proto__'];

function randomValue(rand, depth) {
  const r = rand();
  if (depth <= 0 || r < 0.35) {
    return [null, true, false, 0, 1.5, -7, 'str', ''][Math.floor(rand() * 8)];
  }
  if (r < 0.65) {
    return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth - 1));
  }
  const o = {};
  for (const k of KEYS) if (rand() < 0.4) Object.defineProperty(o, k, { value: randomValue(rand, depth - 1), enumerable: true, writable: true, configurable: true });
  return o;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// diff emits add/remove/replace operations, the way a server does, using
// index inserts, "-" appends and removals so that arrays shift.
function diff(a, b, path, ops, rand) {
  if (isObj(a) && isObj(b)) {
    for (const k of Object.keys(a)) if (!has(b, k)) ops.push({ op: 'remove', path: formatPointer([...path, k]) });
    for (const k of Object.keys(b)) {
      if (!has(a, k)) ops.push({ op: 'add', path: formatPointer([...path, k]), value: b[k] });
      else diff(a[k], b[k], [...path, k], ops, rand);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    let cur = a.slice();
    while (cur.length > b.length) {
      const i = Math.floor(rand() * cur.length); // remove anywhere: later items shift left
      ops.push({ op: 'remove', path: formatPointer([...path, i]) });
      cur.splice(i, 1);
    }
    while (cur.length < b.length) {
      if (rand() < 0.5) {
        ops.push({ op: 'add', path: formatPointer([...path, '-']), value: null });
        cur.push(null);
      } else {
        const i = Math.floor(rand() * (cur.length + 1)); // insert: later items shift right
        ops.push({ op: 'add', path: formatPointer([...path, i]), value: null });
        cur.splice(i, 0, null);
      }
    }
    cur.forEach((v, i) => diff(v, b[i], [...path, i], ops, rand));
    return;
  }
  if (!deepEqual(a, b)) ops.push({ op: 'replace', path: formatPointer(path), value: b });
}

test('applyPatch turns a random document into another through a generated patch', () => {
  for (let seed = 1; seed <= 500; seed++) {
    const rand = rng(seed);
    const a = { root: randomValue(rand, 4) };
    const b = { root: randomValue(rand, 4) };
    const ops = [];
    diff(a, b, [], ops, rand);
    const before = structuredClone(a);
    const got = applyPatch(a, ops);
    assert.ok(deepEqual(got, b), `seed ${seed}: got ${JSON.stringify(got)}, want ${JSON.stringify(b)}`);
    assert.ok(deepEqual(a, before), `seed ${seed}: input modified`);
  }
});
