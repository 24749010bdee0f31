import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { progressHeartbeat, runStage } from '../../activities/run-stage.ts';
import { BadInputError, ConfigError } from '../../lib/errors.ts';

test('a running stage keeps heartbeating its last progress while it works', async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  await env.run(() =>
    runStage(async () => {
      progressHeartbeat(10)(3); // one progress report, then a long silent stretch
      await sleep(250);
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
