/**
 * Throughput benchmark: our Whisper engine (lib/whisper), with and without its VAD, against
 * faster-whisper 1.2.1 (CTranslate2, int8) on the very CTranslate2 model.bin our converter reads,
 * and optionally @huggingface/transformers' `pipeline('automatic-speech-recognition')` on our ONNX
 * files; the same clips, each engine in its own child process (so that peak RSS is separate).
 *
 *   node --import tsx bench/transcribe.ts [--model base] [--batch-size 8] [--threads 2]
 *        [--engines ours,ours-nopack,ours-novad,ours-timestamps,ours-encoder-inline,fw-batched,fw-sequential,transformers]
 *        [--language en]
 *        [--compute fp32,int8]
 *        [--repeat 1]
 *        [--fw-beam-size 1] [--venv DIR] [--json FILE] [--keep-clips] [--quick]
 *
 * Reports audio seconds per wall second (RTFx) after a warm-up clip, the RTFx ratio, the corpus
 * WER of each engine against the known texts on the speech clips, the words it wrote on the
 * non-speech clips, model load time and peak RSS. The clips are built from test/fixtures/whisper
 * (jfk.flac, recorded; eSpeak English sentences): short single sentences and longer clips of
 * continuous speech (20–70 s), like the pipeline's TikTok audio, plus the non-speech clips of
 * test/fixtures/held-out-audio.ts (noise, instruments, drums; 8 s each). faster-whisper is
 * installed by the bench into its own venv (--venv, default ~/.cache/audio-pipeline/bench-venv).
 * transformers.js has no language detection in its pipeline, so it is told `language: 'en'`; the
 * other engines detect the language per clip, or all are told `--language` (ours then packs the
 * short clips into shared windows: lib/whisper/packing.ts; `ours-nopack` does not). `--compute` runs each of our engines once per listed
 * WHISPER_COMPUTE (fp32: the converted graphs; int8: their 8-bit variants; default int8, the product's WHISPER_COMPUTE default).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config.ts';
import { MODEL_PINS, isModelName } from '../lib/model-supply/pins.ts';
import { fetchVadModel } from '../lib/model-supply/vad-asset.ts';
import { ensureVenv } from '../lib/python-venv.ts';
import { loadAudio, SAMPLE_RATE } from '../lib/whisper/audio.ts';
import { corpusWer, normalizeEnglishNumbers, normalizeForWer } from '../lib/whisper/wer.ts';
import { writeWav } from '../lib/audio/wav.ts';
import { WHISPER_COMPUTE_TYPES, type WhisperCompute } from '../lib/whisper/compute.ts';
import { makeHeldOutClips } from '../test/fixtures/held-out-audio.ts';
import { arg, englishSpeech, FIX, JFK_TEXT, ROOT } from './fixtures.ts';
import { startResult, writeResult } from './lib/report.ts';
import { median } from './lib/stats.ts';

/** faster-whisper and what it runs on, pinned (the bench's own venv). */
const FASTER_WHISPER_REQUIREMENTS = [
  'faster-whisper==1.2.1',
  'ctranslate2==4.8.5',
  'onnxruntime==1.32.0',
  'av==18.1.0',
  'tokenizers==0.23.3',
  'numpy==2.4.6; python_version >= "3.11"',
];
const FW_CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'faster_whisper_child.py');

interface Clip {
  file: string;
  text: string;
  seconds: number;
}

interface ChildReport {
  engine: string;
  loadS: number;
  wallS: number;
  /** User + system CPU seconds of the child over the timed part (all its threads). */
  cpuS?: number;
  audioS: number;
  texts: string[];
  peakRssMb: number;
  detail?: Record<string, unknown>;
}

/** The benchmark clips, written as WAV files into `dir`: speech, then non-speech (text ''). */
async function buildClips(dir: string, ffmpegPath: string): Promise<Clip[]> {
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
  const { nonSpeech } = await makeHeldOutClips(dir, ffmpegPath, {});
  const silent = Object.values(nonSpeech).map((file) => ({ file, text: '', seconds: 8 }));
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
    ...silent,
  ];
}

// ---- children ----------------------------------------------------------------------------------

async function childOurs(
  clips: Clip[],
  modelDir: string,
  threads: number,
  batchSize: number,
  vadModel: string | undefined,
  compute: WhisperCompute,
  segmentTimestamps: boolean | undefined,
  encoderProcess: boolean | undefined,
  packClips: boolean | undefined,
  language: string | undefined,
): Promise<ChildReport> {
  const { WhisperEngine } = await import('../lib/whisper/transcribe.ts');
  const t0 = performance.now();
  const engine = await WhisperEngine.load({
    modelDir,
    device: 'cpu',
    compute,
    threads,
    batchSize,
    vadModel,
    segmentTimestamps,
    encoderProcess,
    packClips,
  });
  const loadS = (performance.now() - t0) / 1000;
  await engine.transcribeFiles([path.join(FIX, 'jfk.flac')], { language }); // warm-up
  Object.assign(engine.model.stats, {
    encodeMs: 0,
    encodedWindows: 0,
    encodedProbes: 0,
    decodeMs: 0,
    decodeCalls: 0,
    decodeRows: 0,
  });
  // The encoder's child process (encoderProcess) works for this one: its CPU time and its peak
  // resident set count as ours (the two peaks added: an upper bound of the peak of both). Read
  // from /proc, 0 if the child has been replaced meanwhile (a restart is a failure in the bench).
  const encoderPid = await engine.model.encoderPid();
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const encoderCpu0 = encoderPid ? procCpuS(encoderPid) : 0;
  const out = await engine.transcribeFiles(
    clips.map((c) => c.file),
    { language },
  );
  const wallS = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const encoderCpuS = encoderPid ? procCpuS(encoderPid) - encoderCpu0 : 0;
  const encoderPeakMb = encoderPid ? procPeakRssMb(encoderPid) : 0;
  const texts = out.map((r) => ('error' in r ? `ERROR ${r.error}` : r.text));
  const stats = {
    ...engine.model.stats,
    decoder: engine.model.decoderMode,
    vad: engine.vadStats,
    pack: engine.packStats,
    encoderProcess: encoderPid ? { cpuS: encoderCpuS, peakRssMb: encoderPeakMb } : null,
  };
  await engine.close();
  return {
    engine: `ours (${compute}, batch ${batchSize}, ${vadModel ? 'VAD' : 'no VAD'}${segmentTimestamps ? ', timestamp tokens' : ''}${encoderProcess === false ? ', encoder in the same process' : ''}${packClips === false ? ', not packed' : ''})`,
    loadS,
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6 + encoderCpuS,
    audioS: clips.reduce((n, c) => n + c.seconds, 0),
    texts,
    peakRssMb: process.resourceUsage().maxRSS / 1024 + encoderPeakMb,
    detail: stats,
  };
}

/** User + system CPU seconds of a live process (Linux /proc; clock ticks at the usual 100 Hz). */
function procCpuS(pid: number): number {
  // Fields after the command name's closing parenthesis: utime and stime are the 12th and 13th.
  const stat = readProc(pid, 'stat');
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set (VmHWM) of a live process, MB. */
function procPeakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readProc(pid, 'status'));
  return m ? Number(m[1]) / 1024 : 0;
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
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

/** --timestamps 1|0 of a child: segments by timestamp tokens or not; '' = the engine's default. */
function timestampsArg(v: string): boolean | undefined {
  return v === '' ? undefined : v === '1';
}

function computeArg(v: string): WhisperCompute {
  if (!(WHISPER_COMPUTE_TYPES as readonly string[]).includes(v))
    throw new Error(`--compute: ${v} is not one of ${WHISPER_COMPUTE_TYPES.join(', ')}`);
  return v as WhisperCompute;
}

/** Runs one engine's child (`cmd args`) and reads its report: the last JSON line on stdout. */
function runChild(kind: string, cmd: string, args: string[]): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
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
    const vad = arg('vad', '');
    const report =
      childKind === 'ours'
        ? await childOurs(
            clips,
            path.join(cacheDir, model),
            threads,
            batchSize,
            vad || undefined,
            computeArg(arg('compute', 'int8')),
            timestampsArg(arg('timestamps', '')),
            arg('encoder-process', '1') === '1' ? undefined : false, // undefined: the engine's default
            arg('pack', '1') === '1' ? undefined : false,
            arg('language', '') || undefined,
          )
        : await childTransformers(clips, cacheDir, model, threads);
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  // --quick: the goal's pair alone (ours and faster-whisper batched), one round: ~1 min here.
  const quick = process.argv.includes('--quick');
  const engines = arg(
    'engines',
    quick ? 'ours,fw-batched' : 'ours,ours-novad,fw-batched,fw-sequential',
  ).split(',');
  const computes = arg('compute', 'int8').split(',').map(computeArg);
  const repeat = Number(arg('repeat', '1'));
  const config = loadConfig();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const vadModel = await fetchVadModel({
    cacheDir,
    python: config.tools.python,
    pipIndexUrl: config.tools.pipIndexUrl,
    onLog: say,
  });
  const fwPython = engines.some((e) => e.startsWith('fw-'))
    ? await ensureVenv({
        dir: path.resolve(arg('venv', path.join(os.homedir(), '.cache', 'audio-pipeline', 'bench-venv'))),
        requirements: FASTER_WHISPER_REQUIREMENTS,
        python: config.tools.python,
        pipIndexUrl: config.tools.pipIndexUrl,
        purpose: 'the benchmark peer faster-whisper',
        onLog: say,
      })
    : '';
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'whisper-bench-'));
  try {
    const clips = await buildClips(tmp, config.ffmpegPath);
    const clipsFile = path.join(tmp, 'clips.json');
    writeFileSync(clipsFile, JSON.stringify(clips));
    const audio = clips.reduce((n, c) => n + c.seconds, 0);
    const speechClips = clips.filter((c) => c.text !== '').length;
    process.stderr.write(
      `${clips.length} clips (${speechClips} of speech, ${clips.length - speechClips} without), ${audio.toFixed(1)} s of audio; model ${model}; ${threads} threads; ${os.cpus()[0]?.model ?? ''}\n`,
    );
    // Started before the runs: the machine's load average at the start, as every bench records.
    const result = startResult('transcribe', quick, {
      model,
      threads,
      batchSize,
      engines,
      computes,
      repeat,
      language: arg('language', '') || 'detected',
      clips: clips.map((c) => ({ name: path.basename(c.file), seconds: c.seconds, text: c.text })),
    });
    const common = [
      '--threads',
      String(threads),
      '--batch-size',
      String(batchSize),
      '--language',
      arg('language', ''),
    ];
    const ours = (
      vad: string,
      compute: WhisperCompute,
      timestamps = '',
      encoderProcess = true,
      pack = true,
    ) => [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      ...['--child', 'ours', '--clips', clipsFile, '--model', model, '--cache', cacheDir, '--vad', vad],
      ...['--compute', compute, '--timestamps', timestamps],
      ...['--encoder-process', encoderProcess ? '1' : '0', '--pack', pack ? '1' : '0'],
      ...common,
    ];
    const fw = (mode: string) => {
      if (!isModelName(model))
        throw new Error(`faster-whisper runs on a pinned model (base, tiny.en), not ${model}`);
      const pin = MODEL_PINS[model];
      return [
        FW_CHILD,
        ...['--ct2-dir', path.join(path.dirname(fwPython), '..', 'ct2', model)],
        ...pin.wheels.flatMap((w) => ['--wheel', path.join(cacheDir, '.downloads', w.file)]),
        ...['--model-bin-sha256', pin.modelBinSha256, '--clips', clipsFile, '--mode', mode],
        ...['--warmup', path.join(FIX, 'jfk.flac'), '--beam-size', arg('fw-beam-size', '1')],
        ...common,
      ];
    };
    const commands: Record<string, (compute: WhisperCompute) => [string, string[]]> = {
      ours: (compute) => [process.execPath, ours(vadModel, compute)],
      'ours-novad': (compute) => [process.execPath, ours('', compute)],
      'ours-timestamps': (compute) => [process.execPath, ours(vadModel, compute, '1')],
      'ours-encoder-inline': (compute) => [process.execPath, ours(vadModel, compute, '', false)],
      'ours-nopack': (compute) => [process.execPath, ours(vadModel, compute, '', true, false)],
      'fw-batched': () => [fwPython, fw('batched')],
      'fw-sequential': () => [fwPython, fw('sequential')],
      transformers: () => [
        process.execPath,
        [
          ...['--import', 'tsx', fileURLToPath(import.meta.url), '--child', 'transformers'],
          ...['--clips', clipsFile, '--model', model, '--cache', cacheDir],
          ...common,
        ],
      ],
    };
    for (const e of engines)
      if (!commands[e]) throw new Error(`unknown engine ${e} (known: ${Object.keys(commands).join(', ')})`);
    const reports: ChildReport[] = [];
    const runs: Array<{
      round: number;
      engine: string;
      wallS: number;
      cpuS?: number;
      loadAverage: number[];
    }> = [];
    // Alternate the engines so that a noisy neighbour hurts both alike.
    for (let r = 0; r < repeat; r++) {
      for (const e of engines) {
        for (const compute of e.startsWith('ours') ? computes : computes.slice(0, 1)) {
          const loadBefore = os.loadavg()[0];
          const rep = await runChild(e, ...commands[e](compute));
          const load = [loadBefore, os.loadavg()[0]];
          process.stderr.write(
            `  ${rep.engine}: ${rep.wallS.toFixed(1)} s wall, ${rep.cpuS?.toFixed(1) ?? '-'} s CPU, RTFx ${(rep.audioS / rep.wallS).toFixed(2)}, load average ${load.map((l) => l.toFixed(1)).join(' → ')}\n`,
          );
          runs.push({ round: r, engine: rep.engine, wallS: rep.wallS, cpuS: rep.cpuS, loadAverage: load });
          reports.push(rep);
        }
      }
    }
    // Each engine's row: the median of its repetitions' wall and CPU times (the mean of the two
    // middle ones for an even count); the texts, the same every repetition, from the first.
    const byEngine = new Map<string, ChildReport[]>();
    for (const rep of reports) byEngine.set(rep.engine, [...(byEngine.get(rep.engine) ?? []), rep]);
    const medianReps = [...byEngine.values()].map((reps) => ({
      ...reps[0]!,
      wallS: median(reps.map((r) => r.wallS)),
      cpuS: reps.every((r) => r.cpuS !== undefined) ? median(reps.map((r) => r.cpuS!)) : undefined,
    }));
    const speechPairs = (rep: ChildReport) =>
      clips
        .map((c, i) => ({ reference: c.text, hypothesis: rep.texts[i] }))
        .filter((p) => p.reference !== '');
    const rows = medianReps.map((rep) => ({
      engine: rep.engine,
      rtfx: rep.audioS / rep.wallS,
      wallS: rep.wallS,
      cpuS: rep.cpuS,
      /** Lower case, punctuation removed ("8" ≠ "eight"). */
      wer: corpusWer(speechPairs(rep)),
      /** Also spelled-out numbers as digits (whisper's EnglishTextNormalizer's number rule). */
      werNumbers: corpusWer(speechPairs(rep), normalizeEnglishNumbers),
      nonSpeechWords: clips.reduce(
        (n, c, i) => n + (c.text === '' ? normalizeForWer(rep.texts[i]).length : 0),
        0,
      ),
      loadS: rep.loadS,
      peakRssMb: rep.peakRssMb,
      detail: rep.detail,
      texts: rep.texts,
    }));
    // The goal's baseline is faster-whisper batched; without it, the last engine listed.
    const base = rows.find((r) => r.engine.startsWith('faster-whisper batched')) ?? rows.at(-1);
    // Each round's ratio to the baseline (the same round ran both, one after the other), and
    // their median: what the table's ratio column shows.
    const roundRatios = rows
      .filter((r) => base && r !== base)
      .map((r) => {
        const perRound = [...new Set(runs.map((x) => x.round))].flatMap((round) => {
          const wall = (engine: string) => runs.find((x) => x.round === round && x.engine === engine)?.wallS;
          const [mine, theirs] = [wall(r.engine), wall(base!.engine)];
          return mine && theirs ? [theirs / mine] : [];
        });
        return { engine: r.engine, perRound, median: median(perRound) };
      });
    const ratioOf = (r: (typeof rows)[number]) =>
      r === base ? 1 : (roundRatios.find((x) => x.engine === r.engine)?.median ?? NaN);
    const lines = [
      `| engine | audio s | wall s | CPU s | RTFx | vs ${base?.engine ?? '-'} (median of rounds) | WER raw | WER numbers normalised | words on non-speech | load s | peak RSS MB |`,
      `|---|---|---|---|---|---|---|---|---|---|---|`,
      ...rows.map(
        (r) =>
          `| ${r.engine} | ${audio.toFixed(1)} | ${r.wallS.toFixed(1)} | ${r.cpuS?.toFixed(1) ?? '-'} | ${r.rtfx.toFixed(2)} | ${base ? ratioOf(r).toFixed(2) + '×' : '-'} | ${(r.wer * 100).toFixed(1)}% | ${(r.werNumbers * 100).toFixed(1)}% | ${r.nonSpeechWords} | ${r.loadS.toFixed(1)} | ${r.peakRssMb.toFixed(0)} |`,
      ),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    result.repetitions = runs;
    result.summary = {
      goal: 'RTFx ≥ 2× faster-whisper batched int8 (same weights), WER ≤ its WER',
      // the engine the ratios are against: faster-whisper batched unless it was not run
      baseline: base?.engine,
      rows,
      roundRatios,
    };
    say(`results: ${writeResult(result, arg('json', '') || undefined)}`);
  } finally {
    // --keep-clips: the clips and clips.json stay, for profiling one engine's child alone
    if (process.argv.includes('--keep-clips')) process.stderr.write(`clips kept in ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
