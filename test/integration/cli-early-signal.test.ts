/**
 * A signal that reaches the CLI while its modules load (~2 s): SLURM signals a pilot job as it
 * starts when its time limit is shorter than the signal's lead, and before this was handled the
 * worker died by SIGTERM there (the job FAILED, exit 0:15, seen in CI). A worker stops cleanly
 * before taking work; any other command exits with the CLI's code for an interruption.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { makeTempDir } from '../support/postgres.ts';

const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));

/** Whether `pid` has exec'd the CLI (until then it is a fork of the test runner). */
function runsCli(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(CLI);
  } catch {
    return false;
  }
}

/**
 * Starts the CLI and sends `signal` `afterMs` after it exec'd, while its modules load (~2 s;
 * checked: it has printed nothing yet). Node's own first milliseconds come before the entry
 * point's handler, so a child killed by the signal is tried again a little later, twice.
 */
async function signalWhileStarting(args: string[], signal: 'SIGTERM' | 'SIGINT', env: NodeJS.ProcessEnv) {
  for (const afterMs of [150, 400, 800]) {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    const deadline = Date.now() + 20_000;
    while (!runsCli(child.pid!)) {
      assert.ok(Date.now() < deadline, 'the CLI never started');
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, afterMs));
    assert.equal(output, '', 'signalled before the CLI printed anything');
    child.kill(signal);
    const end = await exited;
    if (end.signal === signal && afterMs < 800) continue; // before the entry point ran
    return { code: end.code, killedBy: end.signal, stderr: output };
  }
  throw new Error('unreachable');
}

describe('a signal while the CLI starts', { timeout: 120_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dataDir = await makeTempDir('audio-pipeline-early-signal-');
    // Nothing listens on port 1: a worker that got as far as connecting would fail, not hang.
    env = { ...process.env, DATA_DIR: dataDir, TEMPORAL_ADDRESS: '127.0.0.1:1' };
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('SIGTERM: a worker stops before taking work and exits 0 (a pilot job COMPLETED)', async () => {
    const r = await signalWhileStarting(['worker', '--queue', 'cpu'], 'SIGTERM', env);
    assert.equal(r.killedBy, null, 'not killed by the signal');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SIGTERM while starting: stopping before any work is taken/);
    assert.match(r.stderr, /SIGTERM before the worker ran: nothing to drain/);
    assert.doesNotMatch(r.stderr, /polling|ECONNREFUSED|error/i);
  });

  test('SIGINT (Ctrl-C): a worker exits 130, an interruption', async () => {
    const r = await signalWhileStarting(['worker', '--queue', 'cpu'], 'SIGINT', env);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /SIGINT while starting/);
  });

  test('any other command exits at once with 130', async () => {
    const r = await signalWhileStarting(['status'], 'SIGTERM', env);
    assert.equal(r.code, 130, r.stderr);
  });
});
