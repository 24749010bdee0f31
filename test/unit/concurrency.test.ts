import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachConcurrent } from '../../lib/concurrency.ts';

describe('forEachConcurrent', () => {
  test('every item once, in start order, never more than `concurrency` at once', async () => {
    const started: number[] = [];
    let running = 0;
    let most = 0;
    await forEachConcurrent([30, 5, 20, 1, 10, 2], 3, async (ms, index) => {
      started.push(index);
      most = Math.max(most, ++running);
      await sleep(ms);
      running--;
    });
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
    assert.equal(most, 3);
  });

  test('no items, or concurrency below one: still works', async () => {
    await forEachConcurrent([], 4, () => assert.fail('called'));
    const seen: string[] = [];
    await forEachConcurrent(['a', 'b'], 0, async (x) => void seen.push(x));
    assert.deepEqual(seen, ['a', 'b']);
  });

  test('abort: no new item starts, running ones finish, then it rejects with the reason', async () => {
    const controller = new AbortController();
    const finished: number[] = [];
    const done = forEachConcurrent(
      [0, 1, 2, 3, 4],
      2,
      async (i) => {
        if (i === 1) controller.abort(new Error('stop'));
        await sleep(5);
        finished.push(i);
      },
      controller.signal,
    );
    await assert.rejects(done, /stop/);
    assert.deepEqual(finished.sort(), [0, 1]);
  });
});
