/**
 * A speech clip whose word start times are known: each word is synthesised on its own with
 * espeak-ng, its leading and trailing silence cut by ffmpeg, and the words joined by ffmpeg with
 * given gaps of silence (16 kHz mono PCM throughout, so every length is an exact sample count).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RATE = 16000;
const FFMPEG = ['-hide_banner', '-loglevel', 'error', '-y'];
/** Cuts silence quieter than this at both ends of a word. */
const TRIM = 'silenceremove=start_periods=1:start_threshold=-45dB';

export interface TrueWord {
  word: string;
  /** Seconds from the start of the clip to the word's first audible sample. */
  start: number;
  end: number;
}

/** Samples in a 16-bit mono WAV file as ffmpeg writes it (the size of its data chunk). */
async function wavSamples(file: string): Promise<number> {
  const wav = await readFile(file);
  for (let at = 12; at + 8 <= wav.length;) {
    const id = wav.toString('ascii', at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === 'data') return size / 2;
    at += 8 + size + (size % 2);
  }
  throw new Error(`${file}: no data chunk`);
}

/**
 * Writes `clip.wav` under `dir`: `lead` seconds of silence, then each word followed by its gap
 * (`gaps[i % gaps.length]` seconds), with pink noise of amplitude `noise` under all of it (so
 * that the pauses are not digital silence). Returns the file and each word's true start and end.
 */
export async function buildWordClip(
  dir: string,
  words: string[],
  gaps: number[],
  { lead = 0.5, noise = 0.003 }: { lead?: number; noise?: number } = {},
): Promise<{ file: string; truth: TrueWord[]; duration: number }> {
  // one shell per word (espeak-ng | ffmpeg), then one ffmpeg that joins them
  const pieces = await Promise.all(
    words.map(async (word, i) => {
      const file = path.join(dir, `word${i}.wav`);
      const trim = `${TRIM},areverse,${TRIM},areverse`;
      await run('sh', [
        '-c',
        `espeak-ng -v en-us -s 150 --stdout "$1" | ffmpeg ${FFMPEG.join(' ')} -i - -af '${trim}' -ar ${RATE} -ac 1 -c:a pcm_s16le "$2"`,
        'sh',
        word,
        file,
      ]);
      return { word, file, spoken: await wavSamples(file), gap: Math.round(gaps[i % gaps.length] * RATE) };
    }),
  );
  const leadSamples = Math.round(lead * RATE);
  const chains = pieces.map((p, i) => {
    const delay = i === 0 ? `adelay=${leadSamples}S:all=1,` : '';
    return `[${i}:a]${delay}apad=pad_len=${p.gap}[w${i}]`;
  });
  const total = leadSamples + pieces.reduce((n, p) => n + p.spoken + p.gap, 0);
  const joined =
    `${chains.join(';')};${pieces.map((_, i) => `[w${i}]`).join('')}concat=n=${pieces.length}:v=0:a=1[speech];` +
    `anoisesrc=r=${RATE}:c=pink:a=${noise}:seed=7:d=${(total + RATE) / RATE}[noise];` +
    `[speech][noise]amix=inputs=2:duration=first:normalize=0`;
  const file = path.join(dir, 'clip.wav');
  await run('ffmpeg', [
    ...FFMPEG,
    ...pieces.flatMap((p) => ['-i', p.file]),
    '-filter_complex',
    joined,
    '-c:a',
    'pcm_s16le',
    file,
  ]);

  let at = leadSamples;
  const truth: TrueWord[] = [];
  for (const p of pieces) {
    truth.push({ word: p.word, start: at / RATE, end: (at + p.spoken) / RATE });
    at += p.spoken + p.gap;
  }
  if (at !== total || (await wavSamples(file)) !== at)
    throw new Error(`${file}: the joined clip is not the sum of its parts`);
  return { file, truth, duration: at / RATE };
}

/** A word as compared: lower case, letters and digits only. */
export function normalizeWord(w: string): string {
  return w.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * Pairs recognised words with true words by a longest common subsequence of their normalised
 * text (recognition errors are left out of the comparison); returns [true index, recognised index].
 */
export function matchWords(truth: string[], heard: string[]): Array<[number, number]> {
  const a = truth.map(normalizeWord);
  const b = heard.map(normalizeWord);
  const n = a.length;
  const m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      L[i][j] = a[i] === b[j] && a[i] !== '' ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const pairs: Array<[number, number]> = [];
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] === b[j] && a[i] !== '') pairs.push([i++, j++]);
    else if (L[i + 1][j] >= L[i][j + 1]) i++;
    else j++;
  }
  return pairs;
}
