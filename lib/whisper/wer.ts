/**
 * Word error rate for checking transcripts: texts are normalised (Unicode NFKC, lower case,
 * punctuation and symbols removed, whitespace collapsed) and compared word by word with the
 * Levenshtein distance (substitutions + deletions + insertions) / reference words.
 */
export function normalizeForWer(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
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

/** WER of one hypothesis against one reference (0 = identical; can exceed 1). */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normalizeForWer(reference);
  const hyp = normalizeForWer(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : 1;
  return wordEdits(ref, hyp) / ref.length;
}

/** Corpus WER: total edits / total reference words over many pairs. */
export function corpusWer(pairs: Array<{ reference: string; hypothesis: string }>): number {
  let edits = 0;
  let words = 0;
  for (const p of pairs) {
    const ref = normalizeForWer(p.reference);
    edits += wordEdits(ref, normalizeForWer(p.hypothesis));
    words += ref.length;
  }
  return words === 0 ? 0 : edits / words;
}
