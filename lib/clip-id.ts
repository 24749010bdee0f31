import { createHash } from 'node:crypto';

/**
 * The clip-id rule shared by everything that turns a clip id into a file name (storage, clip-join):
 * a plain token — an ASCII letter or digit, then letters, digits, `_` or `-`, at most 128 in all
 * (TikTok ids are 19 digits; the bound keeps `<id>.opus` far below any file-name limit). No `.`,
 * `/`, `..`, spaces or anything else that could make it a path or a hidden file.
 */
const SAFE_CLIP_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** true when `id` is safe to use as (the stem of) a file name. */
export function isSafeClipId(id: string): boolean {
  return SAFE_CLIP_ID.test(id);
}

/**
 * The key a clip is tracked and stored under: its id when that is safe; otherwise a stable
 * stand-in derived from it, `invalid-id-<16 hex digits of its sha256>`. An id with a NUL byte
 * (PostgreSQL: 22021) or thousands of characters (too large for the primary key's btree: 54000)
 * then fails as its own row instead of failing the archive's transaction.
 */
export function clipKey(id: string): string {
  return isSafeClipId(id) ? id : `invalid-id-${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}
