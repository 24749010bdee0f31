/**
 * A file as an HTTP response with single-range support (RFC 9110 §14): browsers' audio elements
 * ask for `bytes=0-` and then seek with ranges, and a 200 without Accept-Ranges makes them
 * refuse to seek.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

export type ByteRange = { start: number; end: number };

/**
 * The one range a `Range` header asks for within `size` bytes: undefined for the whole file (no
 * header, another unit, or several ranges — answered whole, as the RFC allows), 'unsatisfiable'
 * when it lies outside the file.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, first, last] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export async function fileResponse(
  file: string,
  rangeHeader: string | undefined,
  contentType: string,
): Promise<Response> {
  const { size } = await stat(file);
  const range = parseRange(rangeHeader, size);
  const headers = new Headers({ 'Content-Type': contentType, 'Accept-Ranges': 'bytes' });
  if (range === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  headers.set('Content-Length', String(size === 0 ? 0 : end - start + 1));
  if (range) headers.set('Content-Range', `bytes ${start}-${end}/${size}`);
  const body =
    size === 0
      ? null
      : (Readable.toWeb(createReadStream(file, { start, end })) as ReadableStream<Uint8Array>);
  return new Response(body, { status: range ? 206 : 200, headers });
}
