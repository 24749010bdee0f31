/**
 * The word error rate every transcription threshold rests on, against cases computed by hand:
 * WER = (substitutions + deletions + insertions) / reference words, after normalisation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  corpusWer,
  normalizeEnglishNumbers,
  normalizeForWer,
  wordEdits,
  wordErrorRate,
} from '../../lib/whisper/wer.ts';

test('identical texts: 0', () => {
  assert.equal(wordErrorRate('the cat sat on the mat', 'the cat sat on the mat'), 0);
});

test('one substitution in six words: 1/6', () => {
  assert.equal(wordErrorRate('the cat sat on the mat', 'the cat sat on the hat'), 1 / 6);
});

test('deletions: two words missing of six: 2/6', () => {
  assert.equal(wordErrorRate('the cat sat on the mat', 'the cat on mat'), 2 / 6);
});

test('insertions: three extra words on four: 3/4 (and WER can exceed 1)', () => {
  assert.equal(wordErrorRate('I like green tea', 'I really like very green tea too'), 3 / 4);
  // 2 reference words, 5 hypothesis words, none shared: 2 substitutions + 3 insertions.
  assert.equal(wordErrorRate('hello world', 'a b c d e'), 5 / 2);
});

test('mixed: substitution + deletion + insertion counted once each', () => {
  // ref:  a  b  c  d  e
  // hyp:  a  x  c     e  f   → b→x (S), d deleted (D), f inserted (I): 3 / 5
  assert.equal(wordErrorRate('a b c d e', 'a x c e f'), 3 / 5);
  assert.equal(wordEdits(['a', 'b', 'c', 'd', 'e'], ['a', 'x', 'c', 'e', 'f']), 3);
});

test('word order matters: a swap of two words is two edits', () => {
  assert.equal(wordErrorRate('red blue green', 'blue red green'), 2 / 3);
});

test('edge cases: empty reference, empty hypothesis', () => {
  assert.equal(wordErrorRate('', ''), 0);
  assert.equal(wordErrorRate('', 'anything'), 1);
  assert.equal(wordErrorRate('three words here', ''), 1);
  assert.equal(wordEdits([], ['a', 'b']), 2);
  assert.equal(wordEdits(['a', 'b'], []), 2);
});

test('normalisation: case, punctuation, symbols, whitespace, Unicode forms', () => {
  assert.deepEqual(normalizeForWer('  Hello,   WORLD!  '), ['hello', 'world']);
  assert.equal(wordErrorRate('Hello, world.', 'hello world'), 0);
  // Apostrophes and hyphens split words the same way on both sides.
  assert.deepEqual(normalizeForWer("s'il vous plaît — week-end"), [
    's',
    'il',
    'vous',
    'plaît',
    'week',
    'end',
  ]);
  assert.equal(wordErrorRate("Est-ce que vous pouvez m'aider?", 'est ce que vous pouvez m aider'), 0);
  // NFKC: a decomposed é (e + U+0301) equals the precomposed one; the fullwidth Ａ is A.
  assert.equal(wordErrorRate('caf\u00e9', 'cafe\u0301'), 0);
  assert.deepEqual(normalizeForWer('\uff21bc'), ['abc']);
  // Letters of other scripts and digits are words, not punctuation.
  assert.deepEqual(normalizeForWer('Schön, 10 Jahre — привет!'), ['schön', '10', 'jahre', 'привет']);
  // Accents are kept: a wrong accent is a wrong word.
  assert.equal(wordErrorRate('très', 'tres'), 1);
});

test('corpus WER weighs sentences by their words, not one vote each', () => {
  const pairs = [
    { reference: 'a b c d e f g h i j', hypothesis: 'a b c d e f g h i j' }, // 0 of 10
    { reference: 'x y', hypothesis: 'z' }, // 2 of 2 (1 S + 1 D)
  ];
  assert.equal(corpusWer(pairs), 2 / 12);
  // The mean of per-sentence WERs would be 0.5: corpus WER is not that.
  assert.notEqual(corpusWer(pairs), 0.5);
  assert.equal(corpusWer([]), 0);
});

test('number normalisation: spelled-out cardinals and digits are the same word', () => {
  const n = (t: string) => normalizeEnglishNumbers(t).join(' ');
  assert.equal(n("The library closes at eight o'clock."), 'the library closes at 8 o clock');
  assert.equal(n('Twenty-one, ninety nine'), '21 99');
  assert.equal(n('two hundred and five people'), '205 people');
  assert.equal(n('three thousand four hundred and twelve'), '3412');
  assert.equal(n('one million two hundred thousand'), '1200000');
  assert.equal(n('It cost 1,000 dollars'), 'it cost 1000 dollars');
  // Separate numbers stay separate; "and" between plain words or numbers is a word.
  assert.equal(n('one two three'), '1 2 3');
  assert.equal(n('ten twenty'), '10 20');
  assert.equal(n('two and three, bread and butter'), '2 and 3 bread and butter');
  assert.equal(
    wordErrorRate(
      'Dinner will be ready in twenty minutes',
      'Dinner will be ready in 20 minutes',
      normalizeEnglishNumbers,
    ),
    0,
  );
  // The raw normalisation still counts the digit as a different word.
  assert.equal(wordErrorRate('ready in twenty minutes', 'ready in 20 minutes'), 1 / 4);
  assert.equal(
    corpusWer([{ reference: 'eight o clock', hypothesis: '9 o clock' }], normalizeEnglishNumbers),
    1 / 3,
  );
});
