/**
 * local/temporal-dev-server.ts: finding the CLI, starting the real dev server in a temp DATA_DIR with the
 * pipeline's search attributes, reusing a running one, persistence across restarts, and the
 * TestWorkflowEnvironment helper other tests use.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { freePorts } from '../support/ports.ts';
import { ConfigError } from '../../lib/errors.ts';
import { AUDIO_DATE, PIPELINE_STATUS } from '../../workflows/contract.ts';
import {
  findTemporalCli,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../../local/temporal-dev-server.ts';
import { REPO_ROOT } from '../../local/temporal-cli.ts';
import { makeTempDir } from '../support/postgres.ts';
import { createLocalTestEnvironment } from '../support/temporal.ts';

const execFileAsync = promisify(execFile);

let dataDir: string;
let port: number;
let uiPort: number;
let server: TemporalDevServer | undefined;

before(async () => {
  dataDir = await makeTempDir('audio-pipeline-temporal-');
  [port, uiPort] = (await freePorts(2)) as [number, number];
});
after(async () => {
  await server?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

test('findTemporalCli: TEMPORAL_CLI, then PATH, then <repo>/.venv', async () => {
  const venvCli = path.join(REPO_ROOT, '.venv', 'bin', 'temporal');
  assert.equal(findTemporalCli({ TEMPORAL_CLI: venvCli, PATH: '' }), venvCli);
  assert.throws(() => findTemporalCli({ TEMPORAL_CLI: '/nonexistent/temporal' }), ConfigError);
  const binDir = await makeTempDir('audio-pipeline-path-');
  try {
    await fs.symlink(venvCli, path.join(binDir, 'temporal'));
    assert.equal(findTemporalCli({ PATH: `/nonexistent:${binDir}` }), path.join(binDir, 'temporal'));
  } finally {
    await fs.rm(binDir, { recursive: true, force: true });
  }
  assert.equal(findTemporalCli({ PATH: '' }), venvCli);
  assert.equal(findTemporalCli({ PATH: '' }, dataDir), undefined);
});

test('start-dev in a temp DATA_DIR, with the search attributes, usable from the CLI and the client', async () => {
  const lines: string[] = [];
  server = await startTemporalDevServer({
    dataDir,
    port,
    uiPort,
    namespace: 'default',
    log: (l) => lines.push(l),
  });
  assert.equal(server.address, `127.0.0.1:${port}`);
  assert.equal(server.reused, false);
  await fs.access(path.join(dataDir, 'temporal', 'temporal.sqlite'));
  await fs.access(path.join(dataDir, 'temporal', 'server.log'));

  const connection = await Connection.connect({ address: server.address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    assert.ok(customAttributes?.AudioDate !== undefined && customAttributes?.PipelineStatus !== undefined);

    // What a person runs: `temporal operator search-attribute list`.
    const cli = findTemporalCli()!;
    const { stdout } = await execFileAsync(cli, [
      'operator',
      'search-attribute',
      'list',
      '--address',
      server.address,
      '--namespace',
      'default',
      '--output',
      'json',
    ]);
    const listed = JSON.stringify(JSON.parse(stdout));
    assert.match(listed, /AudioDate/);
    assert.match(listed, /PipelineStatus/);

    // The attributes are usable: a workflow started with them is found by a visibility query.
    const client = new Client({ connection, namespace: 'default' });
    const handle = await client.workflow.start('processDate', {
      taskQueue: 'no-worker-here',
      workflowId: 'process-date-2024-01-15',
      args: [{ date: '2024-01-15' }],
      typedSearchAttributes: [
        { key: AUDIO_DATE, value: '2024-01-15' },
        { key: PIPELINE_STATUS, value: 'running' },
      ],
    });
    let found: string[] = [];
    for (let i = 0; i < 40 && found.length === 0; i++) {
      found = [];
      for await (const wf of client.workflow.list({
        query: `AudioDate = '2024-01-15' AND PipelineStatus = 'running'`,
      })) {
        found.push(wf.workflowId);
      }
      if (found.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(found, ['process-date-2024-01-15']);
    await handle.terminate('test done');
  } finally {
    await connection.close();
  }
});

test('a second start on the same port reuses the running server and leaves it running', async () => {
  const again = await startTemporalDevServer({ dataDir, port, uiPort, namespace: 'default' });
  assert.equal(again.reused, true);
  await again.stop();
  const connection = await Connection.connect({ address: server!.address });
  await connection.workflowService.getSystemInfo({});
  await connection.close();
});

test('workflows persist in the SQLite file across a restart; stop frees the port', async () => {
  await server!.stop();
  assert.equal(await listens(port), false);
  server = await startTemporalDevServer({ dataDir, port, uiPort, namespace: 'default' });
  assert.equal(server.reused, false);
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const described = await client.workflow.getHandle('process-date-2024-01-15').describe();
    assert.equal(described.status.name, 'TERMINATED');
  } finally {
    await connection.close();
  }
  await server.stop();
  server = undefined;
});

test('a port held by something that is not Temporal is a clear error', async () => {
  const blocker = net.createServer((socket) => {
    socket.on('error', () => {}); // our probes hang up abruptly
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const blockedPort = (blocker.address() as net.AddressInfo).port;
  try {
    await assert.rejects(
      startTemporalDevServer({
        dataDir,
        port: blockedPort,
        uiPort: (await freePorts(1))[0]!,
        namespace: 'default',
      }),
      /not a Temporal server/,
    );
  } finally {
    blocker.close();
  }
});

test('createLocalTestEnvironment: a dev server with the search attributes', async () => {
  const env = await createLocalTestEnvironment();
  try {
    const { customAttributes } = await env.connection.operatorService.listSearchAttributes({
      namespace: env.namespace ?? 'default',
    });
    assert.ok(customAttributes?.AudioDate !== undefined && customAttributes?.PipelineStatus !== undefined);
  } finally {
    await env.teardown();
  }
});

function listens(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: p });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
