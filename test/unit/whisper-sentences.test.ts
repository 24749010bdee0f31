/**
 * Segments cut from timed words (lib/whisper/sentences.ts), the segments of windows decoded
 * without timestamp tokens: after a sentence's end, not after an abbreviation or an initial, and
 * at a long pause.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endsSentence, SEGMENT_PAUSE_S, splitSentences } from '../../lib/whisper/sentences.ts';
import type { TranscriptWord } from '../../lib/manifest.ts';

test('a sentence ends at . ? ! and their CJK forms, also inside closing quotes', () => {
  for (const w of [' home.', ' why?', ' now!', ' said."', ' (done.)', '好。', '吗？', ' wait...'])
    assert.equal(endsSentence(w), true, w);
});

test('no sentence ends at a comma, an abbreviation, an initial or inside a word', () => {
  for (const w of [' home,', ' Mr.', ' Dr.', ' vs.', ' J.', ' U.S.', ' e.g.', ' 3.5', ' word'])
    assert.equal(endsSentence(w), false, w);
});

/** Words of `text` one after another, 0.3 s each, with `gaps` (seconds) before the given indices. */
function words(text: string, gaps: Record<number, number> = {}): TranscriptWord[] {
  let t = 0;
  return text.split(' ').map((w, i) => {
    t += gaps[i] ?? 0;
    const word = { word: ` ${w}`, start: t, end: t + 0.3, probability: 0.9 };
    t += 0.3;
    return word;
  });
}

const texts = (segments: TranscriptWord[][]) =>
  segments.map((s) =>
    s
      .map((w) => w.word)
      .join('')
      .trim(),
  );

test('sentences become segments; Mr. Smith stays in one', () => {
  assert.deepEqual(
    texts(splitSentences(words('Hello there. Mr. Smith came home. Did he? No. He did not.'))),
    ['Hello there.', 'Mr. Smith came home.', 'Did he?', 'No.', 'He did not.'],
  );
});

test('a pause of SEGMENT_PAUSE_S or more cuts a segment without punctuation; a shorter one does not', () => {
  const long = splitSentences(words('we walked up the hill and then home', { 5: SEGMENT_PAUSE_S }));
  assert.deepEqual(texts(long), ['we walked up the hill', 'and then home']);
  const short = splitSentences(words('we walked up the hill and then home', { 5: SEGMENT_PAUSE_S - 0.1 }));
  assert.deepEqual(texts(short), ['we walked up the hill and then home']);
});

test('nothing in, nothing out; text without an end is one segment', () => {
  assert.deepEqual(splitSentences([]), []);
  assert.deepEqual(texts(splitSentences(words('no end in sight'))), ['no end in sight']);
});
