import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeChain, innermostMessage } from '../../lib/errors.ts';

test('causeChain follows `cause` links outermost first, and stops at a loop', () => {
  const root = Object.assign(new Error('relation "audio_files" does not exist'), { code: '42P01' });
  const wrapped = new Error('query failed', { cause: root });
  const outer = new Error('store failed', { cause: wrapped });
  assert.deepEqual(causeChain(outer), [outer, wrapped, root]);
  const loop: Error & { cause?: unknown } = new Error('a');
  loop.cause = new Error('b', { cause: loop });
  assert.equal(causeChain(loop).length, 2);
});

test('innermostMessage is the deepest non-empty message (a child workflow wraps the activity failure)', () => {
  const activity = new Error('archive is truncated');
  const child = new Error('Child Workflow execution failed', { cause: new Error('', { cause: activity }) });
  assert.equal(innermostMessage(new Error('', { cause: child })), 'archive is truncated');
  assert.equal(innermostMessage(new Error('alone')), 'alone');
  assert.equal(innermostMessage('a string'), 'a string');
});
