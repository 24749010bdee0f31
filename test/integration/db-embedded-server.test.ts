/**
 * The embedded server's lifecycle across processes: a second CLI process reuses the running
 * server (and does not stop it), a stale server.json is ignored, and a server whose starter
 * was killed is adopted and stopped by the next process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openDatabase } from '../../db/client.ts';
import { makeTempDir } from '../support/postgres.ts';

const execFileAsync = promisify(execFile);
const clientModule = fileURLToPath(new URL('../../db/client.ts', import.meta.url));

let dataDir: string;
const serverFile = () => path.join(dataDir, 'pg', 'server.json');
const readServerFile = async () =>
  JSON.parse(await fs.readFile(serverFile(), 'utf8')) as { pid: number; port: number; ownerPid: number };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  // A stopped postmaster may linger as a zombie until init reaps it; /proc tells which.
  const state = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !alive(pid) || / Z /.test(state);
}

/** Another CLI process: opens the database, runs a query, then `then`s. */
function otherProcess(script: string) {
  const code = `
    const { openDatabase } = await import(${JSON.stringify(clientModule)});
    const opened = await openDatabase({ dataDir: ${JSON.stringify(dataDir)} }, { logger: { info: (m) => console.log(m), warn: (m) => console.log(m) } });
    const { rows } = await opened.pool.query('SELECT inet_server_port() AS port');
    console.log('PORT ' + rows[0].port);
    ${script}
  `;
  return execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
}

before(async () => {
  dataDir = await makeTempDir('audio-pipeline-embedded-');
});
after(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

test('a second process reuses the running server and leaves it running', async () => {
  const lines: string[] = [];
  const first = await openDatabase(
    { dataDir },
    { logger: { info: (m) => lines.push(m), warn: (m) => lines.push(m) } },
  );
  try {
    assert.ok(lines.some((l) => l.startsWith('started embedded PostgreSQL')));
    const recorded = await readServerFile();
    assert.equal(recorded.ownerPid, process.pid);

    const { stdout } = await otherProcess('await opened.close();');
    assert.match(stdout, /reusing embedded PostgreSQL/);
    assert.match(stdout, new RegExp(`PORT ${recorded.port}\\b`));

    const { rows } = await first.pool.query('SELECT 1 AS one');
    assert.equal(rows[0].one, 1, 'still running after the second process closed');
    assert.ok(
      !lines
        .join('\n')
        .includes(
          JSON.parse(await fs.readFile(path.join(dataDir, 'pg', 'credentials.json'), 'utf8')).password,
        ),
    );
  } finally {
    await first.close();
  }
  await assert.rejects(fs.access(serverFile()), 'server.json removed by the owner');
});

test('a stale server.json (dead pid) is replaced', async () => {
  await fs.writeFile(
    serverFile(),
    JSON.stringify({ pid: 2 ** 22 + 12345, port: 1, ownerPid: 2 ** 22 + 12345 }),
  );
  const opened = await openDatabase({ dataDir });
  try {
    const { rows } = await opened.pool.query('SELECT 1 AS one');
    assert.equal(rows[0].one, 1);
    assert.notEqual((await readServerFile()).port, 1);
  } finally {
    await opened.close();
  }
});

test('a server whose starter was killed is adopted and stopped by the next process', async () => {
  await assert.rejects(otherProcess("process.kill(process.pid, 'SIGKILL');"));
  const orphan = await readServerFile();
  assert.ok(alive(orphan.pid), 'the server outlives its killed starter');
  const lines: string[] = [];
  const opened = await openDatabase(
    { dataDir },
    { logger: { info: (m) => lines.push(m), warn: (m) => lines.push(m) } },
  );
  assert.ok(
    lines.some((l) => l.startsWith('adopting embedded PostgreSQL')),
    lines.join('\n'),
  );
  await opened.close();
  assert.ok(await waitUntilDead(orphan.pid), 'the adopter stopped it');
});
