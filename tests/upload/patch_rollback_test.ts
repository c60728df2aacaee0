/** The rollback cases (`_rollback_cases.ts`) with memory, Redis and file state. */
import { STATE_KINDS } from "./_hostile.ts";
import { rollbackCases } from "./_rollback_cases.ts";

for (const kind of STATE_KINDS) rollbackCases(kind);
