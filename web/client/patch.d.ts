// Type declarations for patch.js: JSON Pointer (RFC 6901) and JSON Patch (RFC 6902).

/** A JSON value as it travels on the wire. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/** One RFC 6902 operation. Zocket servers send add, remove and replace. */
export type Operation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: unknown };

/** PatchError reports a JSON Patch operation that does not apply. */
export class PatchError extends Error {
  constructor(message: string, index?: number, operation?: unknown);
  readonly name: 'PatchError';
  /** Position of the failing operation in the patch, when known. */
  index: number | undefined;
  /** The failing operation, when known. */
  operation: unknown;
}

/**
 * Applies the operations in order and returns the new document. The input is
 * never modified; untouched subtrees are shared with the result. Throws a
 * PatchError, with nothing applied, if any operation fails.
 */
export function applyPatch<T>(doc: T, patch: ReadonlyArray<Operation>): T;

/** Splits a JSON Pointer into unescaped tokens ("" is the whole document). */
export function parsePointer(pointer: string): string[];

/** Joins tokens into an escaped JSON Pointer. */
export function formatPointer(tokens: ReadonlyArray<string | number>): string;

/** Returns the value at pointer, or undefined when there is none. */
export function getPointer(doc: unknown, pointer: string): unknown;

/** Compares two JSON values structurally. */
export function deepEqual(a: unknown, b: unknown): boolean;
