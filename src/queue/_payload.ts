/**
 * Payload checks shared by dispatch and the worker: plain JSON, then the schema.
 *
 * @module
 */
import * as v from "valibot";
import { JobValidationError, type PayloadIssue } from "./errors.ts";
import type { PayloadSchema } from "./job.ts";

/**
 * Lists every place where `value` holds something JSON cannot carry faithfully
 * (functions, `undefined` in arrays, non-finite numbers, bigints, class
 * instances such as `Date` or `Map`, cycles). Object properties that are
 * `undefined` are allowed: JSON drops them, as optional fields expect.
 */
export function jsonIssues(value: unknown): PayloadIssue[] {
  const issues: PayloadIssue[] = [];
  const seen = new Set<object>();
  const visit = (item: unknown, path: string, inArray: boolean): void => {
    switch (typeof item) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(item)) issues.push({ path, message: `${item} is not valid JSON` });
        return;
      case "undefined":
        if (inArray || path === "") issues.push({ path, message: "undefined is not valid JSON" });
        return;
      case "object": {
        if (item === null) return;
        if (seen.has(item)) {
          issues.push({ path, message: "circular reference" });
          return;
        }
        const proto = Object.getPrototypeOf(item);
        if (!Array.isArray(item) && proto !== Object.prototype && proto !== null) {
          const kind = (item as object).constructor?.name ?? "object";
          issues.push({ path, message: `${kind} is not plain JSON` });
          return;
        }
        seen.add(item);
        if (Array.isArray(item)) {
          item.forEach((entry, index) => visit(entry, join(path, String(index)), true));
        } else {
          for (const [key, entry] of Object.entries(item)) visit(entry, join(path, key), false);
        }
        seen.delete(item);
        return;
      }
      default:
        issues.push({ path, message: `${typeof item} is not valid JSON` });
    }
  };
  visit(value, "", false);
  return issues;
}

/**
 * The UTF-8 size of a string in bytes, without encoding it. Meant for the
 * output of `JSON.stringify`, which holds no lone surrogates.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: two UTF-16 units, four bytes.
      bytes += 2;
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/**
 * Validates a payload against a schema.
 *
 * @returns The schema's output.
 * @throws {JobValidationError} Listing every failing path.
 */
export async function parsePayload(
  job: string,
  schema: PayloadSchema,
  payload: unknown,
): Promise<unknown> {
  const result = await v.safeParseAsync(schema as v.GenericSchema | v.GenericSchemaAsync, payload);
  if (result.success) return result.output;
  throw new JobValidationError(
    job,
    result.issues.map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message })),
  );
}
