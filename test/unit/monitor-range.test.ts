import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from '../../monitor/file-response.ts';

test('parseRange: one byte range within the file, as browsers send them', () => {
  assert.deepEqual(parseRange('bytes=0-', 1000), { start: 0, end: 999 });
  assert.deepEqual(parseRange('bytes=10-19', 1000), { start: 10, end: 19 });
  assert.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 }, 'end clipped to the file');
  assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 }, 'the last 100 bytes');
  assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
});

test('parseRange: the whole file for no header, other units or several ranges', () => {
  assert.equal(parseRange(undefined, 1000), undefined);
  assert.equal(parseRange('items=0-1', 1000), undefined);
  assert.equal(parseRange('bytes=0-1,5-6', 1000), undefined);
  assert.equal(parseRange('bytes=-', 1000), undefined);
});

test('parseRange: unsatisfiable outside the file', () => {
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=20-10', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
});
