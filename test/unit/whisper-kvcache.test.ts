/**
 * KVCache.compact: finished rows leave a decoder batch in place — the live rows beyond the new
 * batch size move into the finished rows' slots, every tensor becomes a view of its first rows
 * (no new buffer), and `from` tells which old row each new row is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { KVCache } from '../../lib/whisper/model.ts';

/** A [B, 2, T, 3] tensor whose every value in row b is 100·b + tag. */
function tagged(B: number, T: number, tag: number): ort.Tensor {
  const per = 2 * T * 3;
  const data = new Float32Array(B * per);
  for (let b = 0; b < B; b++) data.fill(100 * b + tag, b * per, (b + 1) * per);
  return new ort.Tensor('float32', data, [B, 2, T, 3]);
}

/** The row tags of a tagged tensor, one per batch row. */
function rowsOf(t: ort.Tensor): number[] {
  const [B, ...rest] = t.dims;
  const per = rest.reduce((x, y) => x * y, 1);
  const data = t.data as Float32Array;
  return [...Array(B).keys()].map((b) => {
    const row = data.subarray(b * per, (b + 1) * per);
    assert.ok(
      row.every((v) => v === row[0]),
      `row ${b} is one row's data`,
    );
    return Math.floor(row[0] / 100);
  });
}

test('compact keeps the live rows, moving only those beyond the new batch size', () => {
  const self = [tagged(5, 4, 1), tagged(5, 4, 2)];
  const cross = [tagged(5, 7, 3), tagged(5, 7, 4)];
  const buffers = [...self, ...cross].map((t) => (t.data as Float32Array).buffer);
  const cache = new KVCache(5, 4, self, cross);

  // rows 1 and 3 finished: row 4 moves into slot 1, rows 0 and 2 stay where they are
  const { cache: kept, from } = cache.compact([0, 2, 4]);
  assert.deepEqual(from, [0, 4, 2]);
  assert.equal(kept.batch, 3);
  assert.equal(kept.length, 4);
  for (const [i, t] of [...kept.self, ...kept.cross].entries()) {
    assert.deepEqual(t.dims.slice(0, 1), [3]);
    assert.deepEqual(rowsOf(t), [0, 4, 2]);
    assert.equal((t.data as Float32Array).buffer, buffers[i], 'a view of the same memory, not a copy');
  }
  assert.deepEqual(kept.self[0].dims, [3, 2, 4, 3]);
  assert.deepEqual(kept.cross[1].dims, [3, 2, 7, 3]);

  // then the first row finishes too: the last one moves into its slot
  const again = kept.compact([1, 2]);
  assert.deepEqual(again.from, [2, 1]);
  assert.deepEqual(
    again.from.map((i) => from[i]),
    [2, 4],
    'old rows of the new batch',
  );
  for (const t of [...again.cache.self, ...again.cache.cross]) assert.deepEqual(rowsOf(t), [2, 4]);

  // nothing finished before the new size: no row moves
  const tail = new KVCache(4, 1, [tagged(4, 1, 5)], [tagged(4, 2, 6)]).compact([0, 1]);
  assert.deepEqual(tail.from, [0, 1]);
  assert.deepEqual(rowsOf(tail.cache.cross[0]), [0, 1]);
});
