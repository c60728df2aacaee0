/**
 * The assertions cases use: a subset of `node:assert/strict` with the same names
 * and meaning, written on plain JavaScript so the workerd bundle needs no
 * `nodejs_compat` flag (which would hide a Node dependency creeping into the package).
 *
 * @module
 */

/** Thrown when an assertion fails; `name` matches node's so reporters treat it alike. */
export class AssertionError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "AssertionError";
  }
}

/** @param {unknown} value */
function show(value) {
  try {
    return typeof value === "string"
      ? JSON.stringify(value)
      : String(JSON.stringify(value) ?? value);
  } catch {
    return String(value);
  }
}

/**
 * Structural equality for the plain data cases compare: primitives (by
 * `Object.is`), arrays and plain objects.
 *
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return keysA.length === keysB.length &&
    keysA.every((key) => Object.hasOwn(b, key) && same(a[key], b[key]));
}

/**
 * @param {unknown} value
 * @param {string} [message]
 */
export function ok(value, message) {
  if (!value) throw new AssertionError(message ?? `Expected a truthy value, got ${show(value)}`);
}

/**
 * @param {unknown} actual
 * @param {unknown} expected
 * @param {string} [message]
 */
export function equal(actual, expected, message) {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(message ?? `Expected ${show(expected)}, got ${show(actual)}`);
  }
}

/**
 * @param {unknown} actual
 * @param {unknown} expected
 * @param {string} [message]
 */
export function deepEqual(actual, expected, message) {
  if (!same(actual, expected)) {
    throw new AssertionError(message ?? `Expected ${show(expected)}, got ${show(actual)}`);
  }
}

/**
 * Checks a thrown error against an object of expected properties (as
 * `assert.throws(fn, { name, code })` does) or a class.
 *
 * @param {unknown} error
 * @param {Function | Record<string, unknown> | undefined} expected
 */
function matches(error, expected) {
  if (expected === undefined) return;
  if (typeof expected === "function") {
    ok(error instanceof expected, `Expected a ${expected.name}, got ${show(error)}`);
    return;
  }
  for (const [key, value] of Object.entries(expected)) {
    const actual = /** @type {Record<string, unknown>} */ (error)?.[key];
    const good = value instanceof RegExp ? value.test(String(actual)) : same(actual, value);
    if (!good) {
      throw new AssertionError(
        `Expected error.${key} to be ${show(value instanceof RegExp ? String(value) : value)}, ` +
          `got ${show(actual)} (${error})`,
      );
    }
  }
}

/**
 * @param {() => unknown} fn
 * @param {Function | Record<string, unknown>} [expected]
 */
export function throws(fn, expected) {
  try {
    fn();
  } catch (error) {
    matches(error, expected);
    return;
  }
  throw new AssertionError("Expected the function to throw");
}

/**
 * @param {Promise<unknown> | (() => Promise<unknown>)} promiseOrFn
 * @param {Function | Record<string, unknown>} [expected]
 */
export async function rejects(promiseOrFn, expected) {
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (error) {
    matches(error, expected);
    return;
  }
  throw new AssertionError("Expected the promise to reject");
}
