/** `audio-pipeline db …` commands, on a real embedded PostgreSQL in a temp DATA_DIR. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { registerDbCommands } from '../../cli/commands/db.ts';
import { openDatabase } from '../../db/client.ts';
import { upsertQueue } from '../../db/queries/queue.ts';
import { loadConfig } from '../../lib/config.ts';
import { makeTempDir } from '../support/postgres.ts';

let dataDir: string;
let output: string[] = [];

async function cli(...args: string[]): Promise<string[]> {
  output = [];
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerDbCommands(program, {
    loadConfig: () => loadConfig({ DATA_DIR: dataDir }),
    print: (line) => output.push(line),
  });
  await program.parseAsync(['node', 'audio-pipeline', ...args]);
  return output;
}

before(async () => {
  dataDir = await makeTempDir('audio-pipeline-cli-');
});
after(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

test('db get-pending before migrate explains what to do', async () => {
  await assert.rejects(cli('db', 'get-pending'), /run `audio-pipeline db migrate` first/);
});

test('db migrate, twice', async () => {
  assert.match(
    (await cli('db', 'migrate'))[0]!,
    /^migrations applied: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/audio_pipeline$/,
  );
  assert.match((await cli('db', 'migrate'))[0]!, /^migrations applied/);
});

test('db test-connection prints the server, never the password', async () => {
  const lines = await cli('db', 'test-connection');
  assert.match(lines[0]!, /^ok: .*\(embedded\)$/);
  assert.match(lines[1]!, /^PostgreSQL \d+/);
  const password = JSON.parse(await fs.readFile(`${dataDir}/pg/credentials.json`, 'utf8')).password as string;
  assert.ok(!lines.join('\n').includes(password));
  assert.equal(process.exitCode ?? 0, 0);
});

test('db test-connection to a dead server fails with exit code 1', async () => {
  output = [];
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerDbCommands(program, {
    loadConfig: () =>
      loadConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://nobody:secret@127.0.0.1:1/none' }),
    print: (line) => output.push(line),
  });
  await program.parseAsync(['node', 'audio-pipeline', 'db', 'test-connection']);
  assert.equal(process.exitCode, 1);
  process.exitCode = 0;
  assert.match(output[0]!, /^connection failed: /);
  assert.ok(!output.join('\n').includes('secret'));
});

test('db get-pending lists pending and failed dates, oldest first', async () => {
  assert.deepEqual(await cli('db', 'get-pending'), ['no pending dates']);
  const opened = await openDatabase({ dataDir });
  try {
    await upsertQueue(opened.db, { date: '2024-01-17', archive: null, status: 'pending' });
    await upsertQueue(opened.db, {
      date: '2024-01-15',
      archive: null,
      status: 'failed',
      error: 'boom',
      incrementAttempts: true,
    });
    await upsertQueue(opened.db, { date: '2024-01-16', archive: null, status: 'completed' });
  } finally {
    await opened.close();
  }
  assert.deepEqual(await cli('db', 'get-pending', '--limit', '5'), [
    '2024-01-15  failed   attempts=1  last error: boom',
    '2024-01-17  pending  attempts=0',
  ]);
  const json = JSON.parse((await cli('db', 'get-pending', '--limit', '1', '--json'))[0]!);
  assert.deepEqual(json, [{ date: '2024-01-15', status: 'failed', attempts: 1, last_error: 'boom' }]);
  await assert.rejects(cli('db', 'get-pending', '--limit', '0'));
});
