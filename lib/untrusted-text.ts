/**
 * Untrusted text (tar entry names, link targets, parquet ids) as it may appear in a report, an
 * error, a log line or an activity result: bounded in length, control characters escaped, so
 * that a 1 MiB pax name or a NUL byte never reaches a payload, a terminal or PostgreSQL as is.
 */

/** The longest name a report repeats; the rest is counted, not kept. */
export const SHOWN_CHARS = 200;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** `text` with control characters as `\xNN`, cut to `max` characters with how many were left off. */
export function shownText(text: string, max = SHOWN_CHARS): string {
  const head = text.length > max ? text.slice(0, max) : text;
  const escaped = head.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return text.length > max ? `${escaped}… (${text.length} characters)` : escaped;
}

/**
 * Keeps the first `max` items of a list that may grow without bound, and counts all of them:
 * a report lists what a person can read and says how many more there were.
 */
export class CappedList<T> {
  readonly items: T[] = [];
  count = 0;
  constructor(readonly max: number) {}
  push(item: T): void {
    this.count++;
    if (this.items.length < this.max) this.items.push(item);
  }
}
