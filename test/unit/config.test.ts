import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import { segmentTimestampsFor } from '../../lib/whisper/devices.ts';
import { DEFAULT_TASK_QUEUES } from '../../workflows/contract.ts';

test('defaults are the embedded ones, all under DATA_DIR', () => {
  const c = loadConfig({ DATA_DIR: '/tmp/ap-data' });
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.temporal.address, undefined);
  assert.deepEqual(c.source, { kind: 'local', dir: '/tmp/ap-data/incoming' });
  assert.equal(c.stagingDir, '/tmp/ap-data/staging');
  assert.deepEqual(c.storageTarget, { kind: 'local', path: '/tmp/ap-data/storage' });
  assert.equal(c.whisper.device, 'cpu');
  assert.equal(c.whisper.wordTimestamps, false);
});

test('WHISPER_WORD_TIMESTAMPS is 0 or 1', () => {
  assert.equal(loadConfig({ WHISPER_WORD_TIMESTAMPS: '1' }).whisper.wordTimestamps, true);
  assert.throws(
    () => loadConfig({ WHISPER_WORD_TIMESTAMPS: 'yes' }),
    (err: unknown) => err instanceof ConfigError && /WHISPER_WORD_TIMESTAMPS="yes"/.test(err.message),
  );
});

test('WHISPER_SEGMENTS is auto, sentences or timestamps, and maps onto the engine option', () => {
  assert.equal(loadConfig({}).whisper.segments, 'auto');
  assert.equal(segmentTimestampsFor(loadConfig({}).whisper.segments), undefined);
  assert.equal(segmentTimestampsFor(loadConfig({ WHISPER_SEGMENTS: 'sentences' }).whisper.segments), false);
  assert.equal(segmentTimestampsFor(loadConfig({ WHISPER_SEGMENTS: 'timestamps' }).whisper.segments), true);
  assert.throws(
    () => loadConfig({ WHISPER_SEGMENTS: 'words' }),
    (err: unknown) => err instanceof ConfigError && /WHISPER_SEGMENTS="words"/.test(err.message),
  );
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

test('SOURCE and STORAGE_TARGET are parsed at load: local ones become typed targets', () => {
  const c = loadConfig({ SOURCE: 'local:/srv/in', STORAGE_TARGET: 'file:///srv/opus' });
  assert.deepEqual(c.source, { kind: 'local', dir: '/srv/in' });
  assert.deepEqual(c.storageTarget, { kind: 'local', path: '/srv/opus' });
});

test('a SOURCE or STORAGE_TARGET this version cannot serve is a ConfigError naming the variable', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { SOURCE: 'globus:abc-123:/data' },
      /SOURCE="globus:abc-123:\/data": the Globus endpoint .* must be a UUID/,
    ],
    [{ SOURCE: 's3://bucket/day' }, /SOURCE="s3:\/\/bucket\/day": expected local:<dir>/],
    [{ SOURCE: 'local:' }, /SOURCE="local:": expected local:<dir>/],
    [{ STORAGE_TARGET: 'rsync://nas/opus' }, /STORAGE_TARGET="rsync:\/\/nas\/opus": rsync daemon URLs/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
      JSON.stringify(env),
    );
  }
});

test('both bad targets are reported at once', () => {
  assert.throws(
    () => loadConfig({ SOURCE: 's3://bucket/day', STORAGE_TARGET: 'u@h:/p/../q' }),
    (err: unknown) =>
      err instanceof ConfigError && /SOURCE=/.test(err.message) && /STORAGE_TARGET=/.test(err.message),
  );
});

test('an rsync STORAGE_TARGET carries its ssh settings, host keys checked against known_hosts', () => {
  const c = loadConfig({
    STORAGE_TARGET: 'archiver@nas:/opus',
    STORAGE_SSH_KEY: '/keys/id_ed25519',
    STORAGE_SSH_PORT: '2222',
    STORAGE_KNOWN_HOSTS: '/keys/known_hosts',
  });
  assert.deepEqual(c.storageTarget, {
    kind: 'rsync',
    user: 'archiver',
    host: 'nas',
    path: '/opus',
    spec: 'archiver@nas:/opus',
    ssh: { keyFile: '/keys/id_ed25519', port: 2222, knownHosts: '/keys/known_hosts', timeoutS: 120 },
  });
  const d = loadConfig({ STORAGE_TARGET: 'nas:/opus' });
  assert.equal(d.storageTarget.kind === 'rsync' && d.storageTarget.ssh.port, 22);
  assert.match(d.storageTarget.kind === 'rsync' ? d.storageTarget.ssh.knownHosts : '', /\.ssh\/known_hosts$/);
  assert.throws(() => loadConfig({ STORAGE_SSH_PORT: '70000' }), /STORAGE_SSH_PORT/);
});

test('a globus: SOURCE needs the client and the destination collection, and keeps the secret out of Config', async () => {
  const SOURCE = 'globus:11111111-2222-4333-8444-555555555555:/archive/tiktok';
  assert.throws(
    () => loadConfig({ SOURCE }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /needs GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET/.test(err.message) &&
      /needs GLOBUS_DEST_ENDPOINT/.test(err.message),
  );
  const c = loadConfig({
    SOURCE,
    STAGING_DIR: '/shared/staging',
    GLOBUS_CLIENT_ID: 'client-1',
    GLOBUS_CLIENT_SECRET: 's3cret',
    GLOBUS_DEST_ENDPOINT: '99999999-8888-4777-8666-555555555555',
  });
  assert.deepEqual(c.source, {
    kind: 'globus',
    endpoint: '11111111-2222-4333-8444-555555555555',
    path: '/archive/tiktok',
  });
  assert.equal(c.globus.destinationPath, '/shared/staging', 'GLOBUS_DEST_PATH defaults to STAGING_DIR');
  assert.equal(c.globus.credentials?.clientSecret(), 's3cret');
  assert.doesNotMatch(JSON.stringify(c), /s3cret/, 'Config can be printed');

  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/globus-secret-');
  try {
    await writeFile(`${dir}/secret`, 'from-file\n');
    const f = loadConfig({ GLOBUS_CLIENT_ID: 'c', GLOBUS_CLIENT_SECRET_FILE: `${dir}/secret` });
    assert.equal(f.globus.credentials?.clientSecret(), 'from-file');
    const missing = loadConfig({ GLOBUS_CLIENT_ID: 'c', GLOBUS_CLIENT_SECRET_FILE: `${dir}/nope` });
    assert.throws(
      () => missing.globus.credentials?.clientSecret(),
      /GLOBUS_CLIENT_SECRET_FILE=.*nope: cannot read/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => loadConfig({ SOURCE: 'globus:11111111-2222-4333-8444-555555555555:relative' }),
    /must be absolute/,
  );
});

test('the task queues default to the names in the Temporal contract', () => {
  const c = loadConfig({});
  assert.equal(c.temporal.taskQueue, DEFAULT_TASK_QUEUES.cpu);
  assert.equal(c.temporal.gpuTaskQueue, DEFAULT_TASK_QUEUES.gpu);
  const custom = loadConfig({ TASK_QUEUE: 'tenant-a', GPU_TASK_QUEUE: 'tenant-a-gpu' });
  assert.equal(custom.temporal.taskQueue, 'tenant-a');
  assert.equal(custom.temporal.gpuTaskQueue, 'tenant-a-gpu');
});

test('LOG_LEVEL unset leaves the level to each command; FFMPEG_PATH is resolved at load', () => {
  assert.equal(loadConfig({}).logLevel, undefined);
  assert.equal(loadConfig({ LOG_LEVEL: 'debug' }).logLevel, 'debug');
  assert.equal(loadConfig({ FFMPEG_PATH: '/opt/ffmpeg/bin/ffmpeg' }).ffmpegPath, '/opt/ffmpeg/bin/ffmpeg');
  assert.ok(loadConfig({}).ffmpegPath.length > 0);
});

test('the monitor binds 127.0.0.1 with actions disabled by default; a short token is refused unechoed', () => {
  assert.deepEqual(loadConfig({}).monitor, {
    host: '127.0.0.1',
    port: 8080,
    token: undefined,
    workerMetricsAddress: undefined,
  });
  assert.equal(loadConfig({ MONITOR_PORT: '0', MONITOR_TOKEN: 'x'.repeat(16) }).monitor.port, 0);
  assert.throws(
    () => loadConfig({ MONITOR_TOKEN: 'short-secret' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /MONITOR_TOKEN=\(hidden\): expected at least 16 characters/.test(err.message) &&
      !/short-secret/.test(err.message),
  );
  assert.throws(() => loadConfig({ MONITOR_PORT: '70000' }), /MONITOR_PORT="70000"/);
  // A worker's metrics endpoint is off unless given as host:port.
  assert.equal(
    loadConfig({ WORKER_METRICS_ADDRESS: '127.0.0.1:9464' }).monitor.workerMetricsAddress,
    '127.0.0.1:9464',
  );
  assert.throws(() => loadConfig({ WORKER_METRICS_ADDRESS: '9464' }), /WORKER_METRICS_ADDRESS="9464"/);
});
