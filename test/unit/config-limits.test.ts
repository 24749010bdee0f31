import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, untrustedChildEnv } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';

test('the bad-input limits are settings with documented defaults', () => {
  assert.deepEqual(loadConfig({}).limits, {
    maxEntryBytes: 512 * 1024 * 1024,
    maxArchiveBytes: 16 * 1024 * 1024 * 1024,
    maxArchiveEntries: 50_000,
    maxXzMemoryBytes: 1024 * 1024 * 1024,
    maxTarMetaBytes: 64 * 1024,
    maxClipSeconds: 600,
    maxParquetRows: 100_000,
  });
  const set = loadConfig({
    MAX_ARCHIVE_ENTRIES: '10',
    MAX_XZ_MEMORY_BYTES: '1048576',
    MAX_TAR_META_BYTES: '4096',
    MAX_CLIP_SECONDS: '30',
    MAX_PARQUET_ROWS: '5',
  }).limits;
  assert.deepEqual(
    [
      set.maxArchiveEntries,
      set.maxXzMemoryBytes,
      set.maxTarMetaBytes,
      set.maxClipSeconds,
      set.maxParquetRows,
    ],
    [10, 1048576, 4096, 30, 5],
  );
  assert.throws(
    () => loadConfig({ MAX_CLIP_SECONDS: '-1', MAX_PARQUET_ROWS: 'lots' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /MAX_CLIP_SECONDS="-1"/.test(err.message) &&
      /MAX_PARQUET_ROWS="lots"/.test(err.message),
  );
});

test('children that parse untrusted input get PATH and a locale, nothing else', () => {
  const env = untrustedChildEnv({
    PATH: '/usr/bin',
    DATABASE_URL: 'postgres://u:p@h/d',
    MONITOR_TOKEN: 'x'.repeat(20),
    HOME: '/root',
  });
  assert.deepEqual(env, { PATH: '/usr/bin', LC_ALL: 'C' });
});
