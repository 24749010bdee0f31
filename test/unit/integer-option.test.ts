import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { integerOption } from '../../cli/integer-option.ts';

test('integerOption: whole numbers in range pass, anything else is a usage error saying what was expected', () => {
  const positive = integerOption();
  assert.equal(positive('3'), 3);
  for (const bad of ['0', '-1', '1.5', 'x', '', ' ', '1e400'])
    assert.throws(
      () => positive(bad),
      (err: unknown) => err instanceof InvalidArgumentError && /positive integer/.test(err.message),
      bad,
    );
  const slots = integerOption(1, 144);
  assert.equal(slots('144'), 144);
  assert.throws(() => slots('145'), /an integer from 1 to 144/);
  const seed = integerOption(0);
  assert.equal(seed('0'), 0);
  assert.throws(() => seed('-1'), /non-negative integer/);
});
