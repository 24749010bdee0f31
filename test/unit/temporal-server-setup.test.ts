import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig, requireDatabaseUrlWithRemoteTemporal } from '../../lib/config.ts';
import {
  parseServerDatabaseUrl,
  readEnvironmentFile,
  serverEnvironment,
  writeEnvironmentFile,
} from '../../local/temporal-server-setup.ts';

test('the server database URL: user, password (decoded), host, port (default 5432)', () => {
  assert.deepEqual(parseServerDatabaseUrl('postgres://temporal:p%40ss@db.example:6543/postgres'), {
    host: 'db.example',
    port: 6543,
    user: 'temporal',
    password: 'p@ss',
  });
  assert.equal(parseServerDatabaseUrl('postgresql://t@h').port, 5432);
  assert.throws(() => parseServerDatabaseUrl('mysql://t:p@h'), /is not postgres/);
  assert.throws(() => parseServerDatabaseUrl('postgres://h:5432'), /names no user/);
  assert.throws(() => parseServerDatabaseUrl('not a url'), /not a URL/);
});

test('the environment file is 0600, round-trips, and refuses values sh and systemd would read differently', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'temporal-env-'));
  try {
    const file = path.join(dir, 'server.env');
    const vars = serverEnvironment({
      db: { host: '127.0.0.1', port: 5432, user: 'temporal', password: 'S3cret-p@ss!' },
      databases: { main: 'temporal', visibility: 'temporal_visibility' },
      bindIp: '127.0.0.1',
      port: 7233,
      historyShards: 16,
      metricsPort: 9090,
      dynamicConfig: '/opt/dc.yaml',
    });
    await writeEnvironmentFile(file, vars);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readEnvironmentFile(file), vars);
    for (const bad of ['has space', "quo'te", 'dollar$x', 'back\\slash'])
      await assert.rejects(
        writeEnvironmentFile(file, { ...vars, TEMPORAL_DB_PASSWORD: bad }),
        /TEMPORAL_DB_PASSWORD: .* takes no spaces/,
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run and status need DATABASE_URL with TEMPORAL_ADDRESS; worker settings carry the build id', () => {
  const remote = loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', WORKER_BUILD_ID: 'r42' });
  assert.throws(
    () => requireDatabaseUrlWithRemoteTemporal(remote, 'run'),
    /DATABASE_URL is required with TEMPORAL_ADDRESS=temporal.example:7233/,
  );
  assert.deepEqual(remote.temporal.workerVersion, { deploymentName: 'audio-pipeline', buildId: 'r42' });
  requireDatabaseUrlWithRemoteTemporal(loadConfig({}), 'run'); // embedded: fine
  requireDatabaseUrlWithRemoteTemporal(
    loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', DATABASE_URL: 'postgres://u@db/x' }),
    'run',
  );
  assert.equal(loadConfig({}).temporal.workerVersion, undefined);
  assert.throws(() => loadConfig({ WORKER_BUILD_ID: 'no spaces allowed' }), /WORKER_BUILD_ID/);
});
