/** The rule every store applies to paths, so no path can leave the store's root. */

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

/**
 * Throws unless `path` is one or more `/`-separated segments of letters,
 * digits, `.`, `_` and `-`, none starting with `.` (so no `.`, `..` or hidden
 * names), without a leading or trailing `/`. Anything else is refused rather
 * than cleaned, so a hostile path can never be turned into a valid one.
 */
export function assertUploadPath(path: unknown): asserts path is string {
  if (typeof path !== "string" || path.length === 0 || path.length > 1024) {
    throw new TypeError(`Upload path must be a string of 1 to 1024 characters, got ${show(path)}`);
  }
  for (const segment of path.split("/")) {
    if (!SEGMENT.test(segment)) {
      throw new TypeError(
        `Upload path segments must be letters, digits, ".", "_" or "-" and not start with ".", got ${
          show(path)
        }`,
      );
    }
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : typeof value;
}
