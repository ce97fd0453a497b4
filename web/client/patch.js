// JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) for Zocket state sync.
//
// applyPatch never mutates its input: it returns a new document that shares
// every untouched subtree with the old one (copy on write along each path).
// That keeps the previous state intact when a patch fails part-way, and lets
// UI code compare subtrees by identity to find what changed.

const hasOwn = Object.prototype.hasOwnProperty;
const arrayIndex = /^(0|[1-9][0-9]*)$/;

/** PatchError reports a JSON Patch operation that does not apply. */
export class PatchError extends Error {
  /**
   * @param {string} message
   * @param {number} [index] position of the failing operation in the patch
   * @param {unknown} [operation] the failing operation
   */
  constructor(message, index, operation) {
    super(message);
    this.name = 'PatchError';
    this.index = index;
    this.operation = operation;
  }
}

/**
 * parsePointer splits a JSON Pointer into unescaped reference tokens.
 * "" is the whole document; "/a~1b/~0" is ["a/b", "~"].
 * @param {string} pointer
 * @returns {string[]}
 */
export function parsePointer(pointer) {
  if (typeof pointer !== 'string') {
    throw new PatchError(`JSON Pointer must be a string, got ${typeof pointer}`);
  }
  if (pointer === '') return [];
  if (pointer[0] !== '/') {
    throw new PatchError(`JSON Pointer ${JSON.stringify(pointer)} must start with "/"`);
  }
  return pointer.slice(1).split('/').map((token) => {
    if (/~[^01]|~$/.test(token)) {
      throw new PatchError(`JSON Pointer ${JSON.stringify(pointer)} has an invalid "~" escape`);
    }
    return token.replace(/~1/g, '/').replace(/~0/g, '~');
  });
}

/**
 * formatPointer joins reference tokens into an escaped JSON Pointer.
 * @param {ReadonlyArray<string | number>} tokens
 * @returns {string}
 */
export function formatPointer(tokens) {
  return tokens.map((t) => '/' + String(t).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/**
 * getPointer returns the value at pointer in doc, or undefined when there is
 * none.
 * @param {unknown} doc
 * @param {string} pointer
 * @returns {unknown}
 */
export function getPointer(doc, pointer) {
  let node = doc;
  for (const token of parsePointer(pointer)) {
    node = child(node, token);
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * deepEqual compares two JSON values structurally (object key order does not
 * matter).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!hasOwn.call(b, k) || !deepEqual(a[k], b[k])) return false;
  }
  return true;
}

/**
 * applyPatch applies RFC 6902 operations (add, remove, replace, move, copy,
 * test) in order and returns the new document. The input document is never
 * modified; untouched subtrees are shared with the result. If any operation
 * fails, applyPatch throws a PatchError and nothing is applied.
 * @template T
 * @param {T} doc
 * @param {ReadonlyArray<object>} patch
 * @returns {T}
 */
export function applyPatch(doc, patch) {
  if (!Array.isArray(patch)) throw new PatchError('JSON Patch must be an array of operations');
  const fresh = new WeakSet(); // containers copied by this call, safe to mutate
  let root = doc;
  patch.forEach((op, i) => {
    try {
      root = applyOne(root, op, fresh);
    } catch (err) {
      if (err instanceof PatchError) {
        err.index = i;
        err.operation = op;
        err.message = `operation ${i} (${describe(op)}): ${err.message}`;
      }
      throw err;
    }
  });
  return root;
}

function describe(op) {
  if (op === null || typeof op !== 'object') return String(op);
  return `${op.op} ${JSON.stringify(op.path)}`;
}

function applyOne(root, op, fresh) {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) {
    throw new PatchError('operation must be an object');
  }
  const path = parsePointer(op.path);
  switch (op.op) {
    case 'add':
      requireValue(op);
      return add(root, path, op.value, fresh);
    case 'remove':
      return remove(root, path, fresh).root;
    case 'replace':
      requireValue(op);
      return replace(root, path, op.value, fresh);
    case 'move': {
      const from = parsePointer(op.from);
      if (from.length < path.length && from.every((t, i) => t === path[i])) {
        throw new PatchError('"from" must not be a proper prefix of "path"');
      }
      if (from.length === path.length && from.every((t, i) => t === path[i])) {
        resolve(root, from); // must exist; moving onto itself changes nothing
        return root;
      }
      const removed = remove(root, from, fresh);
      return add(removed.root, path, removed.value, fresh);
    }
    case 'copy': {
      const value = resolve(root, parsePointer(op.from));
      return add(root, path, value, fresh); // shared, never mutated in place
    }
    case 'test': {
      requireValue(op);
      if (!deepEqual(resolve(root, path), op.value)) throw new PatchError('test failed');
      return root;
    }
    default:
      throw new PatchError(`unknown op ${JSON.stringify(op.op)}`);
  }
}

function requireValue(op) {
  if (!hasOwn.call(op, 'value')) throw new PatchError('missing "value"');
}

function isContainer(v) {
  return v !== null && typeof v === 'object';
}

function child(node, token) {
  if (Array.isArray(node)) {
    if (!arrayIndex.test(token)) return undefined;
    const i = Number(token);
    return i < node.length ? node[i] : undefined;
  }
  if (isContainer(node) && hasOwn.call(node, token)) return node[token];
  return undefined;
}

// resolve returns the value at tokens or throws if there is none.
function resolve(root, tokens) {
  let node = root;
  for (let i = 0; i < tokens.length; i++) {
    const next = child(node, tokens[i]);
    if (next === undefined) {
      throw new PatchError(`path ${formatPointer(tokens.slice(0, i + 1))} does not exist`);
    }
    node = next;
  }
  return node;
}

function shallowCopy(node, fresh) {
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  fresh.add(copy);
  return copy;
}

function setKey(obj, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

// writableParent copies the containers from the root down to the parent of
// tokens (unless this call already copied them) and returns the new root and
// that parent, which the caller may then mutate.
function writableParent(root, tokens, fresh) {
  if (!isContainer(root)) throw new PatchError('document root is not an object or array');
  const newRoot = fresh.has(root) ? root : shallowCopy(root, fresh);
  let parent = newRoot;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i];
    let next = child(parent, token);
    if (!isContainer(next)) {
      throw new PatchError(`path ${formatPointer(tokens.slice(0, i + 1))} is not an object or array`);
    }
    if (!fresh.has(next)) {
      next = shallowCopy(next, fresh);
      if (Array.isArray(parent)) parent[Number(token)] = next;
      else setKey(parent, token, next);
    }
    parent = next;
  }
  return { root: newRoot, parent };
}

function parseIndex(token, max, path) {
  if (!arrayIndex.test(token)) {
    throw new PatchError(`${formatPointer(path)}: ${JSON.stringify(token)} is not an array index`);
  }
  const i = Number(token);
  if (i > max) throw new PatchError(`${formatPointer(path)}: index ${i} is out of bounds`);
  return i;
}

function add(root, tokens, value, fresh) {
  if (tokens.length === 0) return value;
  const w = writableParent(root, tokens, fresh);
  const key = tokens[tokens.length - 1];
  if (Array.isArray(w.parent)) {
    if (key === '-') w.parent.push(value);
    else w.parent.splice(parseIndex(key, w.parent.length, tokens), 0, value);
  } else {
    setKey(w.parent, key, value);
  }
  return w.root;
}

function remove(root, tokens, fresh) {
  if (tokens.length === 0) throw new PatchError('cannot remove the document root');
  resolve(root, tokens);
  const w = writableParent(root, tokens, fresh);
  const key = tokens[tokens.length - 1];
  let value;
  if (Array.isArray(w.parent)) {
    value = w.parent.splice(Number(key), 1)[0];
  } else {
    value = w.parent[key];
    delete w.parent[key];
  }
  return { root: w.root, value };
}

function replace(root, tokens, value, fresh) {
  if (tokens.length === 0) return value;
  resolve(root, tokens);
  const w = writableParent(root, tokens, fresh);
  const key = tokens[tokens.length - 1];
  if (Array.isArray(w.parent)) w.parent[Number(key)] = value;
  else setKey(w.parent, key, value);
  return w.root;
}
