/**
 * Word error rate for checking transcripts: texts are normalised (Unicode NFKC, lower case,
 * punctuation and symbols removed, whitespace collapsed) and compared word by word with the
 * Levenshtein distance (substitutions + deletions + insertions) / reference words.
 *
 * `normalizeEnglishNumbers` adds the number rule of openai-whisper's EnglishTextNormalizer (the
 * normaliser Whisper's own evaluations use): spelled-out cardinals become digits, so "eight" and
 * "8" are the same word. Whisper writes numbers either way and a reference may too; without the
 * rule every such number counts as an error of the engine.
 */
export function normalizeForWer(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

const ONES: Record<string, number> = Object.fromEntries(
  [
    'zero',
    'one',
    'two',
    'three',
    'four',
    'five',
    'six',
    'seven',
    'eight',
    'nine',
    'ten',
    'eleven',
    'twelve',
    'thirteen',
    'fourteen',
    'fifteen',
    'sixteen',
    'seventeen',
    'eighteen',
    'nineteen',
  ].map((w, i) => [w, i]),
);
const TENS: Record<string, number> = Object.fromEntries(
  ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'].map((w, i) => [
    w,
    20 + 10 * i,
  ]),
);
const SCALES: Record<string, number> = { thousand: 1e3, million: 1e6, billion: 1e9 };

/**
 * normalizeForWer, then spelled-out English cardinals as digits: "twenty one" → "21", "two
 * hundred and five" → "205", "three thousand" → "3000", and "1,000" → "1000". (Ordinals,
 * decimals and currencies, which Whisper's normaliser also rewrites, are left as they are.)
 */
export function normalizeEnglishNumbers(text: string): string[] {
  const words = normalizeForWer(text.replace(/(\d),(?=\d{3}\b)/g, '$1'));
  const out: string[] = [];
  let total = 0;
  let current = 0;
  /** The kind of the last number word, or undefined outside a number. */
  let last: 'ones' | 'tens' | 'hundred' | 'scale' | undefined;
  const flush = () => {
    if (last) out.push(String(total + current));
    total = current = 0;
    last = undefined;
  };
  const isSmall = (w: string | undefined) => w !== undefined && (w in ONES || w in TENS);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (isSmall(w)) {
      const v = w in ONES ? ONES[w] : TENS[w];
      // "twenty one"; "hundred five" / "thousand twenty": else a new number ("one two" → 1 2)
      const joins =
        (last === 'tens' && v > 0 && v < 10) ||
        ((last === 'hundred' || last === 'scale') && current % 100 === 0);
      if (!joins) flush();
      current += v;
      last = w in ONES ? 'ones' : 'tens';
    } else if (w === 'hundred') {
      if (last && current > 0 && current < 100) current *= 100;
      else {
        flush();
        current = 100;
      }
      last = 'hundred';
    } else if (w in SCALES) {
      if (!last) current = 1;
      total += current * SCALES[w];
      current = 0;
      last = 'scale';
    } else if (w === 'and' && (last === 'hundred' || last === 'scale') && isSmall(words[i + 1])) {
      continue; // "two hundred and five"
    } else {
      flush();
      out.push(w);
    }
  }
  flush();
  return out;
}

/** Edit distance between two word lists. */
export function wordEdits(ref: string[], hyp: string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[hyp.length];
}

/** How a text becomes the words WER compares. */
export type WerNormalizer = (text: string) => string[];

/** WER of one hypothesis against one reference (0 = identical; can exceed 1). */
export function wordErrorRate(
  reference: string,
  hypothesis: string,
  normalize: WerNormalizer = normalizeForWer,
): number {
  const ref = normalize(reference);
  const hyp = normalize(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : 1;
  return wordEdits(ref, hyp) / ref.length;
}

/** Corpus WER: total edits / total reference words over many pairs. */
export function corpusWer(
  pairs: Array<{ reference: string; hypothesis: string }>,
  normalize: WerNormalizer = normalizeForWer,
): number {
  let edits = 0;
  let words = 0;
  for (const p of pairs) {
    const ref = normalize(p.reference);
    edits += wordEdits(ref, normalize(p.hypothesis));
    words += ref.length;
  }
  return words === 0 ? 0 : edits / words;
}
