import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { progressHeartbeat, runStage } from '../../activities/run-stage.ts';
import { BadInputError, ConfigError } from '../../lib/errors.ts';

test('a running stage keeps heartbeating its last progress while it works', { timeout: 10_000 }, async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  // The stage works until the keep-alive has beaten three times: an event, not a guessed sleep.
  const threeBeats = new Promise<void>((resolve) =>
    env.on('heartbeat', (d: unknown) => {
      beats.push(d);
      if (beats.length >= 3) resolve();
    }),
  );
  await env.run(() =>
    runStage(async () => {
      progressHeartbeat(10)(3); // one progress report, then a long silent stretch
      await threeBeats;
    }, 50),
  );
  assert.ok(beats.length >= 3, `${beats.length} heartbeats`);
  assert.deepEqual(beats.at(-1), { done: 3, total: 10 }, 'the keep-alive re-sends the last progress');
});

test('bad input and bad settings fail fast; anything else stays retryable', async () => {
  const env = new MockActivityEnvironment();
  for (const err of [new BadInputError('corrupt', 'a.tar.xz'), new ConfigError('WHISPER_DEVICE=cuda: no')]) {
    await assert.rejects(
      env.run(() => runStage(async () => Promise.reject(err))),
      (f: unknown) => f instanceof ApplicationFailure && f.nonRetryable === true && f.type === err.name,
    );
  }
  const transient = new Error('connection reset');
  await assert.rejects(
    env.run(() => runStage(async () => Promise.reject(transient))),
    (e: unknown) => e === transient,
  );
});
