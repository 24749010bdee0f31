/**
 * Generated transcripts for the search benchmark: realistic in the ways that matter to a
 * full-text index — word frequencies follow Zipf's law (the most common word is ~10× as frequent
 * as the 10th), the head of the vocabulary is real spoken English (stop words and the content
 * words people say most: "like", "know", "really"), the tail is pronounceable made-up words (tens
 * of thousands of them, so that a rare term matches a few rows in a million), and a few
 * two-word phrases recur as phrases ("you know", "right now"). Lengths vary like 10–60 s of
 * speech. Everything is drawn from one seeded generator: the same seed gives the same corpus
 * on every machine, and the document frequency of every word is counted as it is generated so
 * that the benchmark can pick query terms of a known selectivity.
 */
import { mulberry32 } from '../../lib/random.ts';

/** The head of the vocabulary, most frequent first (spoken English, roughly). */
const HEAD = (
  "the i you and to a it that of is in like know so just this was my we but they it's " +
  'what do have be on not for all with yeah really get go if me can one your he out about ' +
  'there people she right think are at get up no or when because as time now one how going ' +
  'then good said want see them more some would here make back his her well thing things ' +
  'actually okay literally love day something way gonna look little got why need even today ' +
  'work friends video life first never feel much life year new guys watch come food home ' +
  'always money real next world week tell best try music school family after over still ' +
  'every night happy thank kind always girl boy phone car dog game place part song start ' +
  'better again around really hair water help morning story follow mom dad baby house'
)
  .split(/\s+/)
  .filter((w, i, all) => all.indexOf(w) === i);

/** Two-word phrases that recur as phrases (a share of the text is drawn from these). */
export const PHRASES = [
  'you know',
  'right now',
  'i mean',
  'oh my god',
  'thank you',
  'follow me',
  'let me know',
  'check this out',
  'part two',
  'next week',
  'best friend',
  'last night',
] as const;

const ONSETS = [
  'b',
  'br',
  'c',
  'd',
  'f',
  'g',
  'gr',
  'h',
  'k',
  'l',
  'm',
  'n',
  'p',
  'pl',
  'r',
  's',
  'st',
  't',
  'tr',
  'v',
  'z',
];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ea'];
const CODAS = ['', '', 'n', 'r', 'l', 's', 'm', 'x', 'nd', 'rt'];

export interface CorpusOptions {
  seed: number;
  /** Distinct words (head + made-up tail). */
  vocabulary?: number;
  /** Zipf exponent. */
  exponent?: number;
}

export interface Corpus {
  words: readonly string[];
  /** Next transcript's text. */
  next(): string;
  /** In how many generated transcripts each word (index into `words`) occurred so far. */
  documentFrequency: Uint32Array;
  /** Transcripts generated so far. */
  count: number;
}

/** Deterministic made-up words for the tail: two or three syllables, no duplicates, no head words. */
function tailWords(rng: () => number, n: number, taken: Set<string>): string[] {
  const out: string[] = [];
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  while (out.length < n) {
    const syllables = rng() < 0.6 ? 2 : 3;
    let w = '';
    for (let s = 0; s < syllables; s++) w += pick(ONSETS) + pick(VOWELS);
    w += pick(CODAS);
    if (!taken.has(w)) {
      taken.add(w);
      out.push(w);
    }
  }
  return out;
}

export function createCorpus(options: CorpusOptions): Corpus {
  const rng = mulberry32(options.seed);
  const vocabulary = options.vocabulary ?? 40_000;
  const exponent = options.exponent ?? 1.0;
  const words = [...HEAD, ...tailWords(rng, vocabulary - HEAD.length, new Set(HEAD))];
  // Cumulative Zipf weights: rank r has weight 1 / r^s.
  const cdf = new Float64Array(words.length);
  let total = 0;
  for (let r = 0; r < words.length; r++) cdf[r] = total += 1 / Math.pow(r + 1, exponent);
  for (let r = 0; r < words.length; r++) cdf[r]! /= total;
  const index = new Map(words.map((w, i) => [w, i]));
  const phraseIds = PHRASES.map((p) => p.split(' ').map((w) => index.get(w) ?? -1));

  const documentFrequency = new Uint32Array(words.length);
  const lastSeenIn = new Int32Array(words.length).fill(-1);
  const drawWord = (): number => {
    const u = rng();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const corpus: Corpus = {
    words,
    documentFrequency,
    count: 0,
    next() {
      const doc = corpus.count++;
      // 10–60 s of speech at ~2.5 words/s, more short clips than long ones.
      const length = 25 + Math.floor(Math.pow(rng(), 1.6) * 125);
      const parts: string[] = [];
      let sentence = 0;
      const add = (id: number) => {
        let w = words[id]!;
        if (lastSeenIn[id] !== doc) {
          lastSeenIn[id] = doc;
          documentFrequency[id]!++;
        }
        if (sentence === 0) w = w[0]!.toUpperCase() + w.slice(1);
        sentence++;
        if (sentence > 6 && rng() < 0.12) {
          w += rng() < 0.85 ? '.' : '?';
          sentence = 0;
        } else if (rng() < 0.04) w += ',';
        parts.push(w);
      };
      while (parts.length < length) {
        if (rng() < 0.02) {
          const phrase = phraseIds[Math.floor(rng() * phraseIds.length)]!;
          if (phrase.every((id) => id >= 0)) {
            for (const id of phrase) add(id);
            continue;
          }
        }
        add(drawWord());
      }
      const text = parts.join(' ');
      return /[.?]$/.test(text) ? text : `${text}.`;
    },
  };
  return corpus;
}

/**
 * Words whose document frequency is nearest `share` (0–1) of the documents, excluding `exclude`
 * (English stop words: the product drops them from the stemmed index). Deterministic.
 */
export function wordsNearShare(
  corpus: Corpus,
  share: number,
  n: number,
  exclude: ReadonlySet<string>,
): string[] {
  const target = share * corpus.count;
  return corpus.words
    .map((w, i) => ({ w, df: corpus.documentFrequency[i]! }))
    .filter((x) => x.df > 0 && !exclude.has(x.w))
    .sort((a, b) => Math.abs(a.df - target) - Math.abs(b.df - target) || (a.w < b.w ? -1 : 1))
    .slice(0, n)
    .map((x) => x.w);
}
