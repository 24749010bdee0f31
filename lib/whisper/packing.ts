/**
 * Short clips share a window. Whisper's encoder always reads 30 s: a clip whose speech lasts 5 s
 * costs a whole window, and most of an encoder run goes to padding. Short VAD chunks (a short
 * clip's speech, a short stretch of a long clip's) are therefore packed, a second of silence
 * apart, into one spectrogram of at most 30 s, decoded as one chunk, and the pack's words handed
 * back to their chunks by where they fall (the middle of the silence between two is the border).
 *
 * Only clips whose language is known are packed (pinned, an English-only model, or found by a
 * language probe of the clip's first seconds, language-probe.ts): a window has one language
 * token, and the language of one clip in a pack cannot be told apart from its neighbours'.
 * Measured on the 34 eSpeak sentences of test/fixtures/whisper (7 languages, packed in mixed
 * packs): the decoder's language step with its cross-attention cut to a member's own frames
 * agreed with the member's own window 21–23 times in 34 (German read as English, Portuguese as
 * Latin), since the encoder mixes a window's frames; a wrong language is a wrong transcript.
 *
 * What packing must not lose is a clip's words, so a member is decoded again on its own (its
 * window, its guards) when the pack cannot vouch for it: the pack wrote no word where the VAD
 * heard a second of its speech or more than 1.5 s of it before its first word or after its
 * last (the pack skipped a sentence), its words are a phrase Whisper writes on silence or music
 * (hallucinations.ts) or repeat like a loop, or a window of the pack was judged non-speech or
 * could not be timed.
 */
import type { TranscriptSegment, TranscriptWord } from '../manifest.ts';
import { FRAMES_PER_SECOND, N_FRAMES } from './audio.ts';
import { compressionRatio } from './decoding.ts';
import { isHallucination } from './hallucinations.ts';
import type { LogMel } from './mel.ts';
import { round2, windowLoudness } from './timing.ts';
import { splitSentences } from './sentences.ts';
import type { Chunk, Clip } from './windows.ts';

/** Mel frames of silence between two members: 1 s (each member's own padding). */
export const PACK_GAP_FRAMES = 100;
/** A chunk is packed when it is at most this long (mel frames: 20 s). */
export const PACK_MAX_MEMBER_FRAMES = 2000;
/** Mel frames a pack holds at most: 29 s, so that its window ends in silence as a clip's does. */
export const PACK_CAPACITY_FRAMES = N_FRAMES - 100;
/** Speech (s) the VAD heard in a member that the pack must have written words for. */
const MIN_SPEECH_WITHOUT_WORDS_S = 1.0;
/**
 * Speech (s) the VAD heard in a member before its first word or after its last that means the
 * pack skipped some of it (the engine's RESUME_SPEECH_S for a window's text that ended early).
 */
const MAX_SPEECH_OUTSIDE_WORDS_S = 1.5;

export interface PackMember {
  chunk: Chunk;
  /** Mel frame of the pack where the member's audio starts. */
  at: number;
}

/** What a pack holds while it is decoded: its members, and the words it wrote (pack time). */
export interface Pack {
  members: PackMember[];
  words: Array<TranscriptWord & { avgLogprob: number; noSpeechProb: number }>;
  /**
   * Why nothing can be handed back, if so: a window of the pack judged non-speech (the guards
   * judge a window; each member deserves its own), or whose words could not be timed.
   */
  failed?: string;
}

/**
 * True when `chunk` may share a window: its clip's language is known and it is at most
 * PACK_MAX_MEMBER_FRAMES long (a short clip's speech, or a short stretch of a long clip's).
 */
export function isPackable(chunk: Chunk): boolean {
  return chunk.clip.language !== undefined && fitsPack(chunk);
}

/** True when `chunk` is short enough to share a window, whatever its clip's language. */
export function fitsPack(chunk: Chunk): boolean {
  return chunk.contentFrames <= PACK_MAX_MEMBER_FRAMES;
}

/** Mel frames `chunks` take as one pack (their audio and the silences between them). */
export function packFrames(chunks: readonly Chunk[]): number {
  return chunks.reduce((n, c, i) => n + c.contentFrames + (i > 0 ? PACK_GAP_FRAMES : 0), 0);
}

/**
 * One chunk holding `chunks` (two or more of one language, packFrames ≤ PACK_CAPACITY_FRAMES),
 * in a clip of its own. Each member's frames are
 * copied with their own log-Mel normalisation and followed by their own silence padding, so that
 * the encoder sees each as it would alone, only not at the start of the window.
 */
export function buildPack(chunks: readonly Chunk[]): Chunk {
  const first = chunks[0].mel as LogMel;
  const nMels = first.nMels;
  const members: PackMember[] = [];
  let at = 0;
  for (const chunk of chunks) {
    members.push({ chunk, at });
    at += chunk.contentFrames + PACK_GAP_FRAMES;
  }
  const contentFrames = at - PACK_GAP_FRAMES;
  const nFrames = contentFrames + N_FRAMES;
  const data = new Float32Array(nMels * nFrames);
  members.forEach(({ chunk, at: from }, i) => {
    const mel = chunk.mel as LogMel;
    // the member's audio and its padding: up to the next member, or to the end for the last
    const take = i + 1 < members.length ? chunk.contentFrames + PACK_GAP_FRAMES : nFrames - from;
    for (let m = 0; m < nMels; m++)
      data.set(mel.data.subarray(m * mel.nFrames, m * mel.nFrames + take), m * nFrames + from);
  });
  const languages = new Set(chunks.map((c) => c.clip.language));
  if (languages.size !== 1 || chunks[0].clip.language === undefined)
    throw new Error(`buildPack: clips of one known language only, got ${[...languages].join(', ')}`);
  const clip: Clip = {
    index: -1,
    file: `a pack of ${chunks.length} clips (${chunks.map((c) => c.clip.file).join(', ')})`,
    durationS: contentFrames / FRAMES_PER_SECOND,
    language: chunks[0].clip.language,
    languageProb: 1,
    chunks: [],
    chunksLeft: 1,
    waiting: [],
    seed: chunks.reduce((h, c) => Math.imul(h ^ c.clip.seed, 16777619), 2166136261) >>> 0,
  };
  const chunk: Chunk = {
    clip,
    offsetS: 0,
    endS: contentFrames / FRAMES_PER_SECOND,
    mel: { data, nMels, nFrames },
    contentFrames,
    speech: members.flatMap(({ chunk: c, at: from }) =>
      (c.speech ?? [[0, c.contentFrames]]).map(([a, b]): [number, number] => [a + from, b + from]),
    ),
    seek: 0,
    segments: [],
    rawText: '',
    pack: { members, words: [] },
  };
  clip.chunks.push(chunk);
  return chunk;
}

/**
 * The loudness of the pack's window at mel frame `seek` (windowLoudness) above each member's own
 * floor — its padding, where log-Mel's normalisation put its silence — so that silence is 0 in
 * every member: measured from the window's floor, a member whose loudest sound is quieter than
 * its neighbours' would have pauses louder than the quiet threshold (trimSilence).
 */
export function packLoudness(chunk: Chunk, seek: number, frames: number): Float32Array {
  const mel = chunk.mel as LogMel;
  const { members } = chunk.pack as Pack;
  const loud = windowLoudness(mel, seek, frames);
  const floors = members.map(({ chunk: c, at }) => {
    let s = 0;
    for (let b = 0; b < mel.nMels; b++) s += mel.data[b * mel.nFrames + at + c.contentFrames];
    return s / mel.nMels;
  });
  let m = 0;
  for (let p = 0; p < loud.length; p++) {
    const frame = seek + 2 * p;
    while (m + 1 < members.length && frame >= members[m + 1].at) m++;
    loud[p] -= floors[m];
  }
  return loud;
}

/** What a member gets back from its pack: its segments, or `alone` to be decoded on its own. */
export type MemberOutcome =
  | { chunk: Chunk; alone: false; segments: TranscriptSegment[]; rawText: string }
  | { chunk: Chunk; alone: true; reason: string };

/**
 * Hands the words of a decoded pack back to its members (times moved into each clip), or says
 * which members must be decoded alone. `keepWords`: segments keep their `words` (word
 * timestamps on); `maxCompressionRatio`: a member's text more repetitive than this (Whisper's
 * loop measure, quality.ts) is its own window's business — a pack's window is not judged by it,
 * since unrelated clips saying the same (one sound, many videos) would look like a loop.
 */
export function unpack(pack: Pack, keepWords: boolean, maxCompressionRatio: number): MemberOutcome[] {
  const { members } = pack;
  // borders: the middle of the silence between two members, in seconds of the pack
  const borders = members.slice(1).map(({ at }) => (at - PACK_GAP_FRAMES / 2) / FRAMES_PER_SECOND);
  const wordsOf: Array<typeof pack.words> = members.map(() => []);
  for (const w of pack.words) {
    const middle = (w.start + w.end) / 2;
    let m = 0;
    while (m < borders.length && middle >= borders[m]) m++;
    wordsOf[m].push(w);
  }
  return members.map(({ chunk, at }, m) => {
    if (pack.failed) return { chunk, alone: true, reason: pack.failed };
    const words = wordsOf[m];
    const speechS =
      (chunk.speech ?? [[0, chunk.contentFrames]]).reduce((n, [a, b]) => n + b - a, 0) / FRAMES_PER_SECOND;
    if (words.length === 0 && speechS >= MIN_SPEECH_WITHOUT_WORDS_S)
      return { chunk, alone: true, reason: `no words for ${speechS.toFixed(1)} s of speech` };
    if (words.length > 0) {
      // the member's speech before its first word and after its last, in its own mel frames
      const first = words[0].start * FRAMES_PER_SECOND - at;
      const last = words[words.length - 1].end * FRAMES_PER_SECOND - at;
      const outside = (chunk.speech ?? []).reduce(
        (n, [a, b]) => n + Math.max(0, Math.min(b, first) - a) + Math.max(0, b - Math.max(a, last)),
        0,
      );
      if (outside > MAX_SPEECH_OUTSIDE_WORDS_S * FRAMES_PER_SECOND)
        return {
          chunk,
          alone: true,
          reason: `${(outside / FRAMES_PER_SECOND).toFixed(1)} s of its speech before its first word or after its last`,
        };
    }
    const rawText = words.map((w) => w.word).join('');
    if (words.length > 0 && isHallucination(rawText.trim()))
      return { chunk, alone: true, reason: 'its words are a phrase written on silence or music' };
    const ratio = compressionRatio(rawText.trim());
    if (ratio > maxCompressionRatio)
      return { chunk, alone: true, reason: `its words repeat (compression ratio ${ratio.toFixed(2)})` };
    const shift = chunk.offsetS - at / FRAMES_PER_SECOND;
    const clamp = (t: number) => round2(Math.min(chunk.endS, Math.max(chunk.offsetS, t + shift)));
    const moved = words.map((w) => ({ ...w, start: clamp(w.start), end: clamp(w.end) }));
    const segments = splitSentences(moved).map((sentence): TranscriptSegment => {
      const head = sentence[0];
      return {
        start: head.start,
        end: sentence[sentence.length - 1].end,
        text: sentence
          .map((x) => x.word)
          .join('')
          .trim(),
        avg_logprob: head.avgLogprob,
        no_speech_prob: head.noSpeechProb,
        ...(keepWords
          ? {
              words: sentence.map(({ word, start, end, probability }) => ({ word, start, end, probability })),
            }
          : {}),
      };
    });
    return { chunk, alone: false, segments, rawText };
  });
}
