// Prototype (not kept): pack short clips into ≤30-s files with gaps, transcribe, split words by time.
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync } from 'node:fs';
import { loadConfig } from '../lib/config.ts';
import { loadAudio, SAMPLE_RATE } from '../lib/whisper/audio.ts';
import { writeWav } from '../lib/audio/wav.ts';
import { corpusWer, normalizeEnglishNumbers, normalizeForWer } from '../lib/whisper/wer.ts';
import { WhisperEngine } from '../lib/whisper/transcribe.ts';
import { readFileSync } from 'node:fs';

const clips = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Array<{ file: string; text: string; seconds: number }>;
const GAP = Number(process.env.GAP ?? 1);
const MAXS = Number(process.env.MAXS ?? 12);
const mode = process.argv[3] ?? 'both';
const cache = loadConfig().whisper.modelCache;
const engine = await WhisperEngine.load({
  modelDir: path.join(cache, 'base'), device: 'cpu', compute: 'int8', threads: 2, batchSize: 8,
  vadModel: path.join(cache, 'silero_vad_v6.onnx'), wordTimestamps: true,
});
await engine.transcribeFiles([clips[0].file]);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'pack-'));
const report = (label: string, texts: string[], wall: number, stats: unknown) => {
  const sp = clips.map((c, i) => ({ c, t: texts[i] })).filter((x) => x.c.text !== '');
  const ns = clips.map((c, i) => ({ c, t: texts[i] })).filter((x) => x.c.text === '');
  const pairs = sp.map((x) => ({ reference: x.c.text, hypothesis: x.t }));
  const w = corpusWer(pairs);
  const wn = corpusWer(pairs, normalizeEnglishNumbers);
  console.log(label, 'wall', wall.toFixed(1), 'WER', JSON.stringify(w), JSON.stringify(wn), 'nonspeech words', ns.map((x) => x.t).join('|'), JSON.stringify(stats));
  return texts;
};
const resetStats = () => Object.assign(engine.model.stats, { encodeMs: 0, encodedWindows: 0, decodeMs: 0, decodeCalls: 0, decodeRows: 0 });
let plain: string[] = [];
if (mode !== 'pack') {
  resetStats();
  const t0 = performance.now();
  const out = await engine.transcribeFiles(clips.map((c) => c.file));
  plain = report('plain', out.map((r) => ('error' in r ? 'ERR' : r.text)), (performance.now() - t0) / 1000, { ...engine.model.stats });
}
if (mode !== 'plain') {
  // pack: short clips greedily into files of at most 30 s with GAP seconds between them
  const pcms = await Promise.all(clips.map((c) => loadAudio(c.file)));
  const short = clips.map((c, i) => i).filter((i) => clips[i].seconds <= MAXS);
  const long = clips.map((c, i) => i).filter((i) => clips[i].seconds > MAXS);
  const packs: number[][] = [];
  let cur: number[] = [], curS = 0;
  for (const i of short) {
    const s = clips[i].seconds + (cur.length ? GAP : 0);
    if (curS + s > 29.5) { packs.push(cur); cur = []; curS = 0; }
    curS += clips[i].seconds + (cur.length ? GAP : 0); cur.push(i);
  }
  if (cur.length) packs.push(cur);
  const files: string[] = [];
  const spans: Array<Array<[number, number, number]>> = []; // clip, start, end seconds
  for (const [k, p] of packs.entries()) {
    const gap = Math.round(GAP * SAMPLE_RATE);
    const n = p.reduce((a, i) => a + pcms[i].length, 0) + gap * (p.length - 1);
    const buf = new Float32Array(n);
    let at = 0; const sp: Array<[number, number, number]> = [];
    for (const i of p) { buf.set(pcms[i], at); sp.push([i, at / SAMPLE_RATE, (at + pcms[i].length) / SAMPLE_RATE]); at += pcms[i].length + gap; }
    const f = path.join(tmp, `pack-${k}.wav`); writeWav(f, buf); files.push(f); spans.push(sp);
  }
  console.log('packs', packs.map((p) => p.length).join(','), 'long', long.length);
  resetStats();
  const t0 = performance.now();
  const out = await engine.transcribeFiles([...files, ...long.map((i) => clips[i].file)]);
  const wall = (performance.now() - t0) / 1000;
  const texts: string[] = new Array(clips.length).fill('');
  long.forEach((i, j) => { const r = out[files.length + j]; texts[i] = 'error' in r ? 'ERR' : r.text; });
  spans.forEach((sp, k) => {
    const r = out[k]; if ('error' in r) throw new Error(r.error);
    const words = r.segments.flatMap((s) => s.words ?? []);
    for (const w of words) {
      const mid = (w.start + w.end) / 2;
      // the clip whose span (extended to the gaps' midpoints) holds the word's middle
      let best = sp[0][0];
      for (let j = 0; j < sp.length; j++) {
        const lo = j === 0 ? -1e9 : (sp[j - 1][2] + sp[j][1]) / 2;
        const hi = j === sp.length - 1 ? 1e9 : (sp[j][2] + sp[j + 1][1]) / 2;
        if (mid >= lo && mid < hi) best = sp[j][0];
      }
      texts[best] += w.word;
    }
  });
  report('packed', texts, wall, { ...engine.model.stats });
  if (plain.length) clips.forEach((c, i) => { if (normalizeForWer(plain[i]).join(' ') !== normalizeForWer(texts[i]).join(' ')) console.log('DIFF', path.basename(c.file), '\n  plain:', plain[i], '\n  packed:', texts[i]); });
}
await engine.close();
