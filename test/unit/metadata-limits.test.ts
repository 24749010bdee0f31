/**
 * metadata.parquet against its limits (issue 7, items 1 and 3): the footer's row count is checked
 * before anything is decoded, problems are counted but only the first few listed, and ids that
 * cannot be keys (a NUL byte, 8,000 characters) keep their row under a stand-in key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clipKey } from '../../lib/clip-id.ts';
import { BadInputError } from '../../lib/errors.ts';
import { MAX_LISTED_PROBLEMS, readMetadataReport } from '../../lib/metadata/read.ts';
import { writeContractParquet, type ParquetColumns } from '../../lib/sample-day/parquet.ts';

const COLUMNS: ParquetColumns = [
  ['id', 'string'],
  ['desc', 'string'],
];
let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'metadata-limits-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('more rows than maxRows in the footer is BadInputError, before decoding', async () => {
  const file = path.join(tmp, 'many.parquet');
  const rows = Array.from({ length: 5000 }, (_, i) => ({ id: String(i), desc: 'same words' }));
  await writeContractParquet(file, rows, COLUMNS);
  await assert.rejects(
    readMetadataReport(file, { maxRows: 1000 }),
    (err: unknown) =>
      err instanceof BadInputError &&
      err.message.includes(file) &&
      /declares 5000 rows, more than the limit of 1000 \(MAX_PARQUET_ROWS\)/.test(err.message),
  );
  const within = await readMetadataReport(file, { maxRows: 5000 });
  assert.equal(within.rows.length, 5000, 'row groups read one after another give every row');
  assert.equal(within.rows[4999].id, '4999');
});

test('problems are counted, the first few listed', async () => {
  const file = path.join(tmp, 'no-ids.parquet');
  const rows = Array.from({ length: 3000 }, (_, i) => ({ id: i === 7 ? '7' : null, desc: 'x' }));
  await writeContractParquet(file, rows, COLUMNS);
  const report = await readMetadataReport(file);
  assert.equal(report.problemCount, 2999);
  assert.equal(report.problems.length, MAX_LISTED_PROBLEMS);
  assert.deepEqual(
    report.rows.map((r) => r.id),
    ['7'],
  );
});

test('an id with a NUL byte or 8,000 characters keeps its row under a stand-in key', async () => {
  const file = path.join(tmp, 'bad-ids.parquet');
  const nul = '123\u0000456';
  const long = '9'.repeat(8000);
  await writeContractParquet(
    file,
    [
      { id: nul, desc: 'a' },
      { id: long, desc: 'b' },
      { id: '42', desc: 'c' },
    ],
    COLUMNS,
  );
  const report = await readMetadataReport(file);
  assert.deepEqual(
    report.rows.map((r) => r.id),
    [clipKey(nul), clipKey(long), '42'],
  );
  assert.equal(report.rows[0].invalidId, '123\\x00456');
  assert.ok(report.rows[1].invalidId!.length < 120, 'shown id is cut');
  assert.equal(report.rows[1].raw.id, long, 'raw keeps the id as given');
  assert.equal(report.problemCount, 2);
  assert.ok(report.problems.every((p) => p.length < 200));
});
