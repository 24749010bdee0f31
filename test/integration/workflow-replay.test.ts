/**
 * Every recorded history in test/histories/ replays against the current workflow code. A change
 * that would make a running date take a different path on replay (an activity added, removed or
 * reordered, a child started differently, a timer added) fails here, in CI, instead of failing
 * the dates that are running when new workers are deployed. The rule for such changes is in
 * docs/workflows.md (patched() / worker versioning); `npm run record-histories` re-records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { readHistoryFile } from '../support/history-files.ts';

// The replay worker's INFO lines (bundle built, worker state) would drown the test's output.
Runtime.install({ logger: new DefaultLogger('WARN') });

const HISTORIES = fileURLToPath(new URL('../histories/', import.meta.url));
const WORKFLOWS = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

test('recorded workflow histories replay on the current workflow code', { timeout: 120_000 }, async (t) => {
  const files = (await readdir(HISTORIES, { recursive: true })).filter((f) => f.endsWith('.json')).sort();
  // the scenarios of test/histories/record.ts (a clean date, a failed archive, a cancelled date)
  // record-schedule.ts (a discovery that starts a date, a retry that skips a completed archive)
  // and record-autoscale.ts (three autoscaler rounds against SLURM)
  for (const scenario of [
    'clean-date',
    'failed-archive',
    'cancelled-date',
    'discovered-date',
    'retried-date',
    'autoscale-rounds',
  ])
    assert.ok(
      files.some((f) => f.startsWith(`${scenario}${path.sep}`)),
      `no recorded history for ${scenario}`,
    );
  const histories = files.map((file) => ({
    file,
    workflowId: path.basename(file, '.json'),
    history: () => readHistoryFile(path.join(HISTORIES, file)),
  }));
  async function* load() {
    for (const h of histories) yield { workflowId: h.workflowId, history: await h.history() };
  }
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS }, load())) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  t.diagnostic(`${replayed} histories replayed`);
  assert.equal(replayed, files.length);
  assert.deepEqual(failures, [], `non-deterministic on replay:\n${failures.join('\n')}`);
});
