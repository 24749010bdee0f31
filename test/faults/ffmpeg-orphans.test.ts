/**
 * An ffmpeg started by a worker must not outlive it. A process converting a long clip (the real
 * lib/audio/convert.ts) is SIGKILLed mid-conversion — as the kernel's OOM killer or a preempted
 * node would — and its ffmpeg must end at once instead of converting on for a dead worker.
 * To make "at once" measurable, ffmpeg is paused (SIGSTOP) while its parent is killed and resumed
 * afterwards: it then has minutes of audio left, and must stop at its next write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveFfmpegPath } from '../../lib/audio/ffmpeg-path.ts';
import { makeTempDir } from '../support/postgres.ts';
import { childPids, isRunning, waitFor } from './support/processes.ts';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');

test('ffmpeg ends when the process converting with it is SIGKILLed', { timeout: 120_000 }, async () => {
  const dir = await makeTempDir('audio-pipeline-orphans-');
  const ffmpeg = resolveFfmpegPath(undefined);
  const input = path.join(dir, 'long.mp3');
  const output = path.join(dir, 'long.opus');
  // Almost ten minutes (under the clip cap), cheap to make: a sine tone.
  await run(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=590:r=16000', '-b:a', '24k', input]);

  const script = `
    const { convertToOpus } = await import(${JSON.stringify(path.join(repo, 'lib/audio/convert.ts'))});
    await convertToOpus(${JSON.stringify(input)}, ${JSON.stringify(output)}, { ffmpegPath: ${JSON.stringify(ffmpeg)} });
  `;
  const worker = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repo,
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  try {
    // The conversion is under way: its ffmpeg runs and has written output.
    const [child] = await waitFor('ffmpeg started by the worker', async () => {
      const pids = await childPids(worker.pid!, 'ffmpeg');
      return pids.length ? pids : undefined;
    });
    await waitFor('output written', async () => {
      const names = await readdir(dir);
      const tmp = names.find((n) => n.startsWith('long.opus.tmp-'));
      return tmp && (await stat(path.join(dir, tmp))).size > 0 ? tmp : undefined;
    });

    process.kill(child, 'SIGSTOP');
    worker.kill('SIGKILL');
    await exited;
    process.kill(child, 'SIGCONT');
    const started = Date.now();
    while (isRunning(child) && Date.now() - started < 1500) await new Promise((r) => setTimeout(r, 25));
    const alive = isRunning(child);
    if (alive) process.kill(child, 'SIGKILL');
    assert.equal(
      alive,
      false,
      `ffmpeg ${child} still converting ${Date.now() - started} ms after its parent died`,
    );
  } finally {
    worker.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
