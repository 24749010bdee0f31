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
