/**
 * Segments from timed words: where a window was decoded without timestamp tokens (the VAD's
 * chunks, by default), its text is cut into sentences the way WhisperX cuts faster-whisper's
 * chunk texts, and each segment spans its words.
 */
import type { TranscriptWord } from '../manifest.ts';

/** A pause between two words this long (seconds) ends a segment even without punctuation. */
export const SEGMENT_PAUSE_S = 2.0;
/** Words ending in a period that do not end a sentence. */
// (not "no." or "etc.", which end sentences as often as not; "e.g." is an initialism, below)
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'vs', 'jr', 'sr', 'mt']);
const SENTENCE_END = /[.?!。？！…]$/u;
const CLOSING = /["'”’)\]}»]+$/u;

/** True when `word` (as decoded, leading space and all) ends a sentence. */
export function endsSentence(word: string): boolean {
  const w = word.trim().replace(CLOSING, '');
  if (!SENTENCE_END.test(w)) return false;
  if (!w.endsWith('.') || w.endsWith('..')) return true;
  const stem = w
    .slice(0, -1)
    .replace(/^["'“‘([{«¿¡]+/u, '')
    .toLowerCase();
  // initials ("J.", "U.S.") and the usual abbreviations go on
  if (/^\p{L}$/u.test(stem) || /^(\p{L}\.)+\p{L}$/u.test(stem)) return false;
  return !ABBREVIATIONS.has(stem);
}

/** `words` cut after each sentence end and at each pause of SEGMENT_PAUSE_S or more. */
export function splitSentences<W extends TranscriptWord>(words: W[]): W[][] {
  const out: W[][] = [];
  let current: W[] = [];
  for (const w of words) {
    const prev = current[current.length - 1];
    if (prev && w.start - prev.end >= SEGMENT_PAUSE_S) {
      out.push(current);
      current = [];
    }
    current.push(w);
    if (endsSentence(w.word)) {
      out.push(current);
      current = [];
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}
