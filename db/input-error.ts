/**
 * PostgreSQL errors that the input caused, as opposed to the server or the network: SQLSTATE
 * class 22 (data exception: a NUL byte, a malformed value), 23 (integrity constraint) and 54
 * (program limit exceeded: a value too large for a btree index). Retrying such a statement gives
 * the same error, so they are bad input (non-retryable) — and the rows that caused them fail
 * alone (db/queries/store-archive.ts).
 */
import { BadInputError } from '../lib/errors.ts';
import { shownText } from '../lib/untrusted-text.ts';

const INPUT_CLASSES = new Set(['22', '23', '54']);

interface PgErrorFields {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** The PostgreSQL error inside `err` (drizzle wraps the driver's in DrizzleQueryError.cause). */
function pgErrorOf(err: unknown): { code: string; message: string } | null {
  for (
    let e = err as PgErrorFields | undefined, depth = 0;
    e && depth < 4;
    e = e.cause as PgErrorFields, depth++
  ) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
      return { code: e.code, message: String(e.message ?? '') };
    }
  }
  return null;
}

/** `SQLSTATE 22021: invalid byte sequence …` when `err` is an input-caused PostgreSQL error, else null. */
export function inputErrorReason(err: unknown): string | null {
  const pg = pgErrorOf(err);
  if (!pg || !INPUT_CLASSES.has(pg.code.slice(0, 2))) return null;
  return `PostgreSQL ${pg.code}: ${shownText(pg.message, 300)}`;
}

/** `err` as a BadInputError about `subject` when the input caused it; otherwise `err` itself. */
export function asBadInput(err: unknown, subject: string): unknown {
  const reason = inputErrorReason(err);
  return reason ? new BadInputError(reason, subject) : err;
}
