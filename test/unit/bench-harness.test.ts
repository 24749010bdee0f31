/**
 * The benchmark harness's pure parts (bench/ is not run by `make test`, so this keeps it from
 * rotting): percentiles, overlap@k, the Markdown table, and the search corpus generator's
 * determinism and word frequencies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNumber, table } from '../../bench/lib/report.ts';
import { median, overlap, percentile, summarize } from '../../bench/lib/stats.ts';
import { createCorpus, wordsNearShare } from '../../bench/lib/word-corpus.ts';

test('percentiles interpolate between the closest ranks', () => {
  const xs = [5, 1, 4, 2, 3];
  assert.equal(median(xs), 3);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile(xs, 100), 5);
  assert.equal(percentile(xs, 25), 2);
  assert.equal(percentile([10, 20], 95), 19.5);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile(xs, 101), RangeError);
  const s = summarize(Array.from({ length: 101 }, (_, i) => i));
  assert.deepEqual(s, { n: 101, min: 0, p50: 50, p95: 95, p99: 99, max: 100 });
});

test('overlap@k counts the reference ids found', () => {
  assert.equal(overlap(['a', 'b', 'c'], ['c', 'd']), 0.5);
  assert.equal(overlap([], ['x']), 0);
  assert.equal(overlap(['x'], []), 1);
});

test('tables are aligned Markdown', () => {
  const t = table(
    ['name', 'ms'],
    [
      ['a', 1.23456],
      ['long name', 120.4],
    ],
  );
  assert.equal(
    t,
    ['| name      | ms   |', '| --------- | ---- |', '| a         | 1.23 |', '| long name | 120  |'].join(
      '\n',
    ),
  );
  assert.equal(formatNumber(0.12345), '0.123');
  assert.equal(formatNumber(42), '42');
});

test('the word corpus is deterministic and Zipf-like', () => {
  const a = createCorpus({ seed: 7, vocabulary: 5000 });
  const b = createCorpus({ seed: 7, vocabulary: 5000 });
  const c = createCorpus({ seed: 8, vocabulary: 5000 });
  const textsA = Array.from({ length: 2000 }, () => a.next());
  const textsB = Array.from({ length: 2000 }, () => b.next());
  assert.deepEqual(textsA, textsB, 'the same seed gives the same transcripts');
  assert.notEqual(c.next(), textsA[0], 'another seed, other transcripts');
  assert.equal(a.count, 2000);
  // Document frequencies are counted as generated, and fall with the rank.
  const df = (w: string) => a.documentFrequency[a.words.indexOf(w)]!;
  assert.equal(df('the'), textsA.filter((t) => /\bthe\b/i.test(t)).length);
  assert.ok(df('the') > df('like') && df('like') > df(a.words[1000]!));
  // The tail has words of every selectivity the search bench asks for.
  const [common] = wordsNearShare(a, 0.2, 1, new Set(['the', 'i', 'you']));
  assert.ok(Math.abs(df(common!) / 2000 - 0.2) < 0.05, `${common} in ${df(common!)} of 2000`);
  for (const t of textsA) assert.match(t, /^[A-Z].*[.?]$/);
});
