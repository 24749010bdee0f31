import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';

test('defaults are the embedded ones, all under DATA_DIR', () => {
  const c = loadConfig({ DATA_DIR: '/tmp/ap-data' });
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.temporal.address, undefined);
  assert.equal(c.source, 'local:/tmp/ap-data/incoming');
  assert.equal(c.stagingDir, '/tmp/ap-data/staging');
  assert.equal(c.storageTarget, '/tmp/ap-data/storage');
  assert.equal(c.whisper.device, 'cpu');
});

test('a bad value names the variable and what was expected', () => {
  assert.throws(
    () => loadConfig({ WHISPER_BATCH_SIZE: 'many', WHISPER_DEVICE: 'tpu' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /WHISPER_BATCH_SIZE="many"/.test(err.message) &&
      /WHISPER_DEVICE="tpu": expected/.test(err.message),
  );
});

test('a bad DATABASE_URL is reported without echoing it (it may hold a password)', () => {
  assert.throws(
    () => loadConfig({ DATABASE_URL: 'mysql://u:secret@h/db' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /DATABASE_URL=\(hidden\)/.test(err.message) &&
      !/secret/.test(err.message),
  );
});
