/**
 * Runs synchronous work and returns its outcome as a promise, turning a throw
 * into a rejection: async-looking methods must never throw synchronously.
 */
export function settle<T>(work: () => T): Promise<Awaited<T>> {
  return new Promise((resolve) => resolve(work() as Awaited<T>));
}
