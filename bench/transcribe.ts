/**
 * Throughput benchmark: our Whisper engine (lib/whisper) against @huggingface/transformers'
 * `pipeline('automatic-speech-recognition')` on the SAME ONNX files and the same clips, each in
 * its own child process (so that peak RSS is separate), in one run.
 *
 *   node --import tsx bench/transcribe.ts [--model base] [--batch-size 8] [--threads 2]
 *        [--engines ours,transformers] [--repeat 1] [--json FILE]
 *
 * Reports audio seconds per wall second (RTFx) after a warm-up clip, the RTFx ratio, the corpus
 * WER of each engine against the known texts, model load time and peak RSS. The clips are built
 * from test/fixtures/whisper (jfk.flac, recorded; eSpeak English sentences): short single
 * sentences and longer clips of continuous speech (20–70 s), like the pipeline's TikTok audio.
 * transformers.js has no language detection in its pipeline, so it is told `language: 'en'`; our
 * engine detects the language as it does in production.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config.ts';
import { loadAudio, SAMPLE_RATE } from '../lib/whisper/audio.ts';
import { corpusWer } from '../lib/whisper/wer.ts';
import { writeWav } from '../lib/audio/wav.ts';
import { arg, englishSpeech, FIX, JFK_TEXT, ROOT } from './fixtures.ts';

interface Clip {
  file: string;
  text: string;
  seconds: number;
}

interface ChildReport {
  engine: string;
  loadS: number;
  wallS: number;
  audioS: number;
  texts: string[];
  peakRssMb: number;
  detail?: Record<string, unknown>;
}

/** The benchmark clips, written as WAV files into `dir`. */
async function buildClips(dir: string): Promise<Clip[]> {
  const speech = englishSpeech();
  const parts = new Map<string, { pcm: Float32Array; text: string }>();
  parts.set('jfk', { pcm: await loadAudio(path.join(FIX, 'jfk.flac')), text: JFK_TEXT });
  for (const s of speech)
    parts.set(s.id, { pcm: await loadAudio(path.join(FIX, `speech-${s.id}.flac`)), text: s.text });
  const gap = new Float32Array(Math.round(0.4 * SAMPLE_RATE));
  const make = (label: string, ids: string[]): Clip => {
    let name = label;
    const pcms: Float32Array[] = [];
    ids.forEach((id, i) => {
      if (i > 0) pcms.push(gap);
      pcms.push((parts.get(id) as { pcm: Float32Array }).pcm);
    });
    const pcm = new Float32Array(pcms.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pcms) {
      pcm.set(p, at);
      at += p.length;
    }
    if (name.startsWith('cont')) name = `cont-${Math.round(pcm.length / SAMPLE_RATE)}s-${name.slice(5)}`;
    const file = path.join(dir, `${name}.wav`);
    writeWav(file, pcm);
    return {
      file,
      text: ids.map((id) => (parts.get(id) as { text: string }).text).join(' '),
      seconds: pcm.length / SAMPLE_RATE,
    };
  };
  const en = speech.map((s) => s.id);
  const rot = (k: number) => [...en.slice(k), ...en.slice(0, k)];
  return [
    make('jfk', ['jfk']),
    ...en.map((id) => make(`single-${id}`, [id])),
    make('cont-a', rot(2).slice(0, 4)),
    make('cont-b', [...rot(7).slice(0, 2), 'jfk', rot(7)[2]]),
    make('cont-c', ['jfk', ...rot(4).slice(0, 4)]),
    make('cont-d', rot(3).slice(0, 7)),
    make('cont-e', rot(6).slice(0, 8)),
    make('cont-f', [...rot(5), 'jfk']),
    make('cont-g', ['jfk', ...rot(1)]),
  ];
}

// ---- children ----------------------------------------------------------------------------------

async function childOurs(
  clips: Clip[],
  modelDir: string,
  threads: number,
  batchSize: number,
): Promise<ChildReport> {
  const { WhisperEngine } = await import('../lib/whisper/transcribe.ts');
  const t0 = performance.now();
  const engine = await WhisperEngine.load({ modelDir, device: 'cpu', threads, batchSize });
  const loadS = (performance.now() - t0) / 1000;
  await engine.transcribeFiles([path.join(FIX, 'jfk.flac')]); // warm-up
  Object.assign(engine.model.stats, {
    encodeMs: 0,
    encodedWindows: 0,
    decodeMs: 0,
    decodeCalls: 0,
    decodeRows: 0,
  });
  const t1 = performance.now();
  const out = await engine.transcribeFiles(clips.map((c) => c.file));
  const wallS = (performance.now() - t1) / 1000;
  const texts = out.map((r) => ('error' in r ? `ERROR ${r.error}` : r.text));
  const stats = { ...engine.model.stats, decoder: engine.model.decoderMode };
  await engine.close();
  return {
    engine: `ours (batch ${batchSize})`,
    loadS,
    wallS,
    audioS: clips.reduce((n, c) => n + c.seconds, 0),
    texts,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    detail: stats,
  };
}

async function childTransformers(
  clips: Clip[],
  cacheDir: string,
  name: string,
  threads: number,
): Promise<ChildReport> {
  const { pipeline, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = cacheDir.endsWith('/') ? cacheDir : cacheDir + '/';
  const t0 = performance.now();
  const asr = (await pipeline('automatic-speech-recognition', name, {
    dtype: 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  } as never)) as unknown as (
    audio: Float32Array,
    opts: Record<string, unknown>,
  ) => Promise<{ text: string }>;
  const loadS = (performance.now() - t0) / 1000;
  const opts = { return_timestamps: true, chunk_length_s: 30, language: 'en', task: 'transcribe' };
  await asr(await loadAudio(path.join(FIX, 'jfk.flac')), opts); // warm-up
  const t1 = performance.now();
  const texts: string[] = [];
  for (const c of clips) {
    const pcm = await loadAudio(c.file); // decoding is timed for both engines
    texts.push((await asr(pcm, opts)).text.trim());
  }
  const wallS = (performance.now() - t1) / 1000;
  return {
    engine: 'transformers.js',
    loadS,
    wallS,
    audioS: clips.reduce((n, c) => n + c.seconds, 0),
    texts,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

function runChild(kind: string, clipsFile: string, extra: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, '--clips', clipsFile, ...extra],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: ROOT,
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1);
      if (code !== 0 || !line) reject(new Error(`${kind} child exited with ${code}: ${out.slice(-2000)}`));
      else resolve(JSON.parse(line) as ChildReport);
    });
  });
}

async function main(): Promise<void> {
  const model = arg('model', 'base');
  const cacheDir = path.resolve(arg('cache', loadConfig().whisper.modelCache));
  const threads = Number(arg('threads', '2'));
  const batchSize = Number(arg('batch-size', '8'));
  const childKind = arg('child', '');
  if (childKind) {
    const clips = JSON.parse(readFileSync(arg('clips', ''), 'utf8')) as Clip[];
    const report =
      childKind === 'ours'
        ? await childOurs(clips, path.join(cacheDir, model), threads, batchSize)
        : await childTransformers(clips, cacheDir, model, threads);
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  const engines = arg('engines', 'ours,transformers').split(',');
  const repeat = Number(arg('repeat', '1'));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'whisper-bench-'));
  try {
    const clips = await buildClips(tmp);
    const clipsFile = path.join(tmp, 'clips.json');
    writeFileSync(clipsFile, JSON.stringify(clips));
    const audio = clips.reduce((n, c) => n + c.seconds, 0);
    process.stderr.write(
      `${clips.length} clips, ${audio.toFixed(1)} s of audio; model ${model}; ${threads} threads; ${os.cpus()[0]?.model ?? ''}\n`,
    );
    const reports: ChildReport[] = [];
    // Alternate the engines so that a noisy neighbour hurts both alike.
    for (let r = 0; r < repeat; r++) {
      for (const e of engines) {
        const rep = await runChild(e, clipsFile, [
          '--model',
          model,
          '--cache',
          cacheDir,
          '--threads',
          String(threads),
          '--batch-size',
          String(batchSize),
        ]);
        process.stderr.write(
          `  ${rep.engine}: ${rep.wallS.toFixed(1)} s wall, RTFx ${(rep.audioS / rep.wallS).toFixed(2)}\n`,
        );
        reports.push(rep);
      }
    }
    const best = new Map<string, ChildReport>();
    for (const rep of reports) {
      const prev = best.get(rep.engine);
      if (!prev || rep.wallS < prev.wallS) best.set(rep.engine, rep);
    }
    const rows = [...best.values()].map((rep) => ({
      engine: rep.engine,
      rtfx: rep.audioS / rep.wallS,
      wallS: rep.wallS,
      wer: corpusWer(clips.map((c, i) => ({ reference: c.text, hypothesis: rep.texts[i] }))),
      loadS: rep.loadS,
      peakRssMb: rep.peakRssMb,
      detail: rep.detail,
      texts: rep.texts,
    }));
    const base = rows.find((r) => r.engine === 'transformers.js');
    const lines = [
      `| engine | audio s | wall s | RTFx | vs transformers.js | WER | load s | peak RSS MB |`,
      `|---|---|---|---|---|---|---|---|`,
      ...rows.map(
        (r) =>
          `| ${r.engine} | ${audio.toFixed(1)} | ${r.wallS.toFixed(1)} | ${r.rtfx.toFixed(2)} | ${base ? (r.rtfx / base.rtfx).toFixed(2) + '×' : '-'} | ${(r.wer * 100).toFixed(1)}% | ${r.loadS.toFixed(1)} | ${r.peakRssMb.toFixed(0)} |`,
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const jsonOut = arg('json', '');
    if (jsonOut)
      writeFileSync(
        jsonOut,
        JSON.stringify(
          {
            date: new Date().toISOString(),
            model,
            threads,
            batchSize,
            cpu: os.cpus()[0]?.model,
            clips: clips.map((c) => ({ name: path.basename(c.file), seconds: c.seconds, text: c.text })),
            rows,
          },
          null,
          2,
        ),
      );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
