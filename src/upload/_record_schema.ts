/**
 * Reading a stored upload record back, from a file or from Redis. A record is
 * data from outside the process (a disk someone can write to, a Redis others
 * share), so it is checked before it is trusted: one that does not parse,
 * has the wrong shape or names another upload is refused as
 * `UPLOAD_RECORD_CORRUPT`, and the tus server answers 500 and keeps its bytes.
 */
import * as v from "valibot";
import { UploadError } from "./errors.ts";
import { ID } from "./_protocol.ts";
import type { UploadRecord } from "./state.ts";

const nullableNumber = v.nullable(v.number());
const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
// Loose, so fields added to UploadRecord later are kept rather than silently dropped.
const RecordSchema = v.looseObject({
  id: v.pipe(v.string(), v.regex(ID)),
  length: v.nullable(count),
  offset: count,
  metadata: v.record(v.string(), v.nullable(v.string())),
  rawMetadata: v.nullable(v.string()),
  createdAt: v.number(),
  expiresAt: nullableNumber,
  completedAt: nullableNumber,
  type: v.nullable(v.string()),
  head: v.nullable(v.string()),
  sweepAt: nullableNumber,
  channel: v.optional(v.nullable(v.string())),
  concat: v.optional(
    v.nullable(v.union([v.literal("partial"), v.array(v.pipe(v.string(), v.regex(ID)))])),
  ),
});

/**
 * Parses the stored JSON of upload `id`.
 *
 * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when it is not a record of that upload.
 */
export function parseRecord(id: string, text: string): UploadRecord {
  const record = parseStored(id, text, RecordSchema);
  // A record copied under another name must not lead to that other upload's bytes.
  if (record.id !== id) throw corrupt(id, `it names upload ${record.id}`);
  return record as UploadRecord;
}

/**
 * Parses stored JSON about upload `id` with `schema`.
 *
 * @throws {UploadError} `UPLOAD_RECORD_CORRUPT` when it is not JSON or does not fit `schema`.
 */
export function parseStored<T extends v.GenericSchema>(
  id: string,
  text: string,
  schema: T,
): v.InferOutput<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(id, "it is not JSON", error);
  }
  const result = v.safeParse(schema, parsed);
  if (!result.success) throw corrupt(id, v.summarize(result.issues));
  return result.output;
}

/** The error for a record that cannot be read. */
export function corrupt(id: string, why: string, cause?: unknown): UploadError {
  return new UploadError(
    "UPLOAD_RECORD_CORRUPT",
    `The record of upload ${id} is unreadable: ${why}`,
    cause === undefined ? {} : { cause },
  );
}
