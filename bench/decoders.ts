/**
 * Engine matrix: the Whisper engine per execution provider × decoder (loop | in-graph) × batch
 * size, on the English fixture clips, each combination in its own child process.
 *
 *   node --import tsx bench/decoders.ts --model-dir DIR [--devices cpu,cuda,webgpu]
 *        [--decoders loop,in-graph] [--batch-sizes 8] [--threads N] [--copies 1]
 *        [--ffmpeg PATH] [--timeout-s 600] [--json FILE]
 *
 * Prints one markdown row per combination: RTFx (audio seconds per wall second, after a warm-up
 * clip), WER against the known texts, the onnxruntime session runs that decoded the windows
 * (in-graph: one per batch; loop: one per token step), peak GPU memory (nvidia-smi, sampled every
 * 200 ms, when there is one), peak RSS, and whether the texts equal the first row's. A
 * combination whose provider cannot load is a row saying why. The language is pinned to English,
 * so that every window can go in-graph (language detection stays in the loop).
 * `--copies N` transcribes the clip list N times (bigger batches); bench/gpu-check.sh drives this
 * on a GPU machine.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusWer } from '../lib/whisper/wer.ts';
import { arg, englishSpeech, FIX, JFK_TEXT } from './fixtures.ts';

interface Combo {
  device: string;
  decoder: string;
  batchSize: number;
}

interface ChildResult {
  wallS?: number;
  audioS?: number;
  texts?: string[];
  runs?: number;
  windows?: number;
  peakRssMb?: number;
  /** CPU seconds (user + system) of the timed part: fairer than wall time on a shared machine. */
  cpuS?: number;
  error?: string;
}

/** The English fixture clips and their texts. */
export function fixtureClips(copies = 1): Array<{ file: string; text: string }> {
  const speech = englishSpeech();
  const one = [
    { file: path.join(FIX, 'jfk.flac'), text: JFK_TEXT },
    ...speech.map((s) => ({ file: path.join(FIX, `speech-${s.id}.flac`), text: s.text })),
  ];
  return Array.from({ length: copies }, () => one).flat();
}

async function child(combo: Combo): Promise<ChildResult> {
  const { WhisperEngine } = await import('../lib/whisper/transcribe.ts');
  const clips = fixtureClips(Number(arg('copies', '1')));
  const threads = Number(arg('threads', '0')) || undefined;
  const ffmpegPath = arg('ffmpeg', '') || undefined;
  let engine;
  try {
    engine = await WhisperEngine.load({
      modelDir: arg('model-dir', ''),
      device: combo.device as 'cpu',
      decoder: combo.decoder as 'loop',
      batchSize: combo.batchSize,
      threads,
      ffmpegPath,
    });
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  try {
    const [warm] = await engine.transcribeFiles([clips[0].file], { language: 'en' });
    if ('error' in warm) return { error: `warm-up: ${warm.error}` };
    const ig = engine.inGraph?.stats;
    if (ig) Object.assign(ig, { runs: 0, windows: 0, ms: 0 });
    Object.assign(engine.model.stats, { decodeCalls: 0, encodedWindows: 0, encodedProbes: 0 });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = await engine.transcribeFiles(
      clips.map((c) => c.file),
      { language: 'en' },
    );
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    return {
      wallS,
      cpuS: (cpu.user + cpu.system) / 1e6,
      audioS: out.reduce((n, r) => n + ('error' in r ? 0 : r.duration_s), 0),
      texts: out.map((r) => ('error' in r ? `ERROR ${r.error}` : r.text)),
      // Session runs that decoded: in-graph runs plus any loop decoder calls (fallbacks).
      runs: (ig?.runs ?? 0) + engine.model.stats.decodeCalls,
      windows: (ig?.windows ?? 0) + engine.model.stats.encodedWindows,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await engine.close();
  }
}

/** Peak GPU memory in MiB while `work` runs (undefined without nvidia-smi). */
async function withGpuMemory<T>(work: Promise<T>): Promise<{ result: T; peakMiB?: number }> {
  let peak: number | undefined;
  let running = true;
  const sample = () =>
    new Promise<void>((resolve) =>
      execFile(
        'nvidia-smi',
        ['--query-gpu=memory.used', '--format=csv,noheader,nounits'],
        { timeout: 5000 },
        (err, stdout) => {
          if (!err) {
            const used = Math.max(...stdout.trim().split('\n').map(Number));
            if (Number.isFinite(used)) peak = Math.max(peak ?? 0, used);
          }
          resolve();
        },
      ),
    );
  const poller = (async () => {
    while (running) {
      await sample();
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    const result = await work;
    return { result, peakMiB: peak };
  } finally {
    running = false;
    await poller;
  }
}

function runChild(combo: Combo, timeoutS: number): Promise<ChildResult> {
  return new Promise((resolve) => {
    const argv = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
    const p = spawn(process.execPath, [...argv, '--child', JSON.stringify(combo)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutS * 1000);
    p.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        resolve({ error: `child exited ${code ?? 'by a signal'} after ${timeoutS} s at most` });
      }
    });
  });
}

async function main(): Promise<void> {
  const childArg = arg('child', '');
  if (childArg) {
    process.stdout.write(`\n${JSON.stringify(await child(JSON.parse(childArg) as Combo))}\n`);
    return;
  }
  if (!arg('model-dir', '')) throw new Error('--model-dir DIR is required (a converted model folder)');
  const combos: Combo[] = [];
  for (const device of arg('devices', 'cpu').split(','))
    for (const decoder of arg('decoders', 'loop,in-graph').split(','))
      for (const b of arg('batch-sizes', '8').split(','))
        combos.push({ device, decoder, batchSize: Number(b) });
  const refs = fixtureClips(Number(arg('copies', '1'))).map((c) => c.text);
  const timeoutS = Number(arg('timeout-s', '600'));
  type Row = Combo & ChildResult & { peakMiB?: number; wer?: number; rtfx?: number };
  const rows: Row[] = [];
  process.stdout.write(
    `model ${path.basename(arg('model-dir', ''))}, ${refs.length} clips\n\n` +
      '| device | decoder | batch | RTFx | wall s | CPU s | WER | decoding session runs | runs / window | GPU MiB | peak RSS MB | texts as row 1 |\n' +
      '|---|---|---|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const combo of combos) {
    const { result, peakMiB } = await withGpuMemory(runChild(combo, timeoutS));
    const row: Row = { ...combo, ...result, peakMiB };
    if (result.texts && result.wallS) {
      row.wer = corpusWer(refs.map((reference, i) => ({ reference, hypothesis: result.texts?.[i] ?? '' })));
      row.rtfx = (result.audioS ?? 0) / result.wallS;
    }
    rows.push(row);
    const first = rows.find((r) => r.texts);
    const same =
      first && row.texts ? (JSON.stringify(first.texts) === JSON.stringify(row.texts) ? 'yes' : 'NO') : '-';
    const cells = row.error
      ? [
          combo.device,
          combo.decoder,
          combo.batchSize,
          `unavailable: ${row.error}`,
          '',
          '',
          '',
          '',
          '',
          '',
          '',
        ]
      : [
          combo.device,
          combo.decoder,
          combo.batchSize,
          row.rtfx?.toFixed(1),
          row.wallS?.toFixed(1),
          row.cpuS?.toFixed(1),
          `${((row.wer ?? 0) * 100).toFixed(1)}%`,
          row.runs,
          ((row.runs ?? 0) / Math.max(1, row.windows ?? 0)).toFixed(2),
          peakMiB ?? '-',
          row.peakRssMb?.toFixed(0),
          same,
        ];
    process.stdout.write(`| ${cells.join(' | ')} |\n`);
  }
  const json = arg('json', '');
  if (json) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
  }
}

await main();
