/**
 * The hostile rollback cases (`_rollback_cases.ts`: checksums, dropped
 * bodies, type sniffing, declared lengths, expiry, progress) on an S3Store
 * over Cloudflare's R2 simulator, its records in `<id>.info` objects. Each
 * case starts its own simulator, so they run in `deno task test:storage`.
 */
import { rollbackCases } from "./_rollback_cases.ts";

rollbackCases("s3");
