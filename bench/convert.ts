/**
 * convert — MP3 → Opus files/s for 200 clips (--quick: 40): the product's converter
 * (lib/audio/convert.ts convertAll, as the convert activity calls it: CONVERT_CONCURRENCY
 * ffmpeg processes, one per core by default) vs. a sequential loop of the same ffmpeg command vs.
 * `xargs -P <cores>` of it (the practical limit of this machine). The three alternate within each
 * repetition, so that the machine's load falls on all of them alike; the ratios are of medians.
 *
 * The clips: 10 s (--seconds) of TikTok-like MP3 (44.1 kHz stereo, 128 kbps), ten distinct signals (tones
 * over noise) repeated to the count.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { convertAll, OPUS_OUTPUT_ARGS } from '../lib/audio/convert.ts';
import { MP3_ARGS } from '../lib/sample-day/clip-audio.ts';
import { option, startResult, table, writeResult } from './lib/report.ts';
import { median } from './lib/stats.ts';

/** The product's ffmpeg command (lib/audio/convert.ts), as someone would type it. */
const opusArgs = (input: string, output: string) => [
  '-nostdin',
  '-hide_banner',
  '-v',
  'error',
  '-y',
  '-f',
  'mp3',
  '-i',
  input,
  ...OPUS_OUTPUT_ARGS,
  output,
];

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function makeClips(ffmpeg: string, dir: string, count: number, seconds: number): Promise<string[]> {
  const distinct: string[] = [];
  for (let i = 0; i < 10; i++) {
    const file = path.join(dir, `src-${i}.mp3`);
    await run(ffmpeg, [
      '-nostdin',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=${220 + 55 * i}:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `anoisesrc=duration=${seconds}:amplitude=0.05:seed=${i}`,
      '-filter_complex',
      'amix=inputs=2',
      ...MP3_ARGS(128),
      file,
    ]);
    distinct.push(file);
  }
  const clips = Array.from({ length: count }, (_, i) => {
    const file = path.join(dir, 'in', `clip-${String(i).padStart(4, '0')}.mp3`);
    return file;
  });
  mkdirSync(path.join(dir, 'in'), { recursive: true });
  clips.forEach((file, i) => copyFileSync(distinct[i % distinct.length]!, file));
  return clips;
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const count = Number(option(argv, 'clips', quick ? '40' : '200'));
  const seconds = Number(option(argv, 'seconds', '10'));
  const reps = Number(option(argv, 'reps', '2'));
  const config = loadConfig();
  const cores = os.availableParallelism();
  const ffmpeg = config.ffmpegPath;
  const version = spawnSync(ffmpeg, ['-version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const result = startResult(
    'convert',
    quick,
    {
      clips: count,
      clipSeconds: seconds,
      mp3: '44.1 kHz stereo 128 kbps',
      reps,
      cores,
      ourConcurrency: config.convertConcurrency,
    },
    { ffmpeg: () => version },
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'audio-pipeline-bench-convert-'));
  try {
    const clips = await makeClips(ffmpeg, dir, count, seconds);
    const out = (variant: string) => {
      const d = path.join(dir, 'out', variant);
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
      return (input: string) => path.join(d, path.basename(input, '.mp3') + '.opus');
    };
    const variants: Record<string, () => Promise<void>> = {
      ours: async () => {
        const to = out('ours');
        const outcomes = await convertAll(
          clips.map((input) => ({ input, output: to(input) })),
          {
            ffmpegPath: ffmpeg,
            concurrency: config.convertConcurrency,
            maxClipSeconds: config.limits.maxClipSeconds,
          },
        );
        const bad = outcomes.find((o) => 'error' in o);
        if (bad && 'error' in bad) throw new Error(`our converter failed: ${bad.error}`);
      },
      sequential: async () => {
        const to = out('sequential');
        for (const input of clips) await run(ffmpeg, opusArgs(input, to(input)));
      },
      [`xargs -P ${cores}`]: async () => {
        const to = out('xargs');
        const outDir = path.dirname(to(clips[0]!));
        const script = `exec "$0" ${opusArgs('"$1"', `"${outDir}/$(basename "$1" .mp3).opus"`).slice(0).join(' ')}`;
        await new Promise<void>((resolve, reject) => {
          const child = spawn('xargs', ['-0', '-P', String(cores), '-n', '1', 'sh', '-c', script, ffmpeg], {
            stdio: ['pipe', 'ignore', 'inherit'],
          });
          child.on('error', reject);
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`xargs exited ${code}`))));
          child.stdin.end(clips.join('\0') + '\0');
        });
      },
    };
    const perVariant: Record<string, number[]> = Object.fromEntries(
      Object.keys(variants).map((k) => [k, []]),
    );
    for (let r = 0; r < reps; r++) {
      for (const [name, go] of Object.entries(variants)) {
        const t0 = performance.now();
        await go();
        const s = (performance.now() - t0) / 1000;
        perVariant[name]!.push(count / s);
        result.repetitions.push({ rep: r, variant: name, seconds: s, filesPerS: count / s });
        process.stderr.write(`rep ${r} ${name}: ${(count / s).toFixed(1)} files/s\n`);
      }
    }
    const med = Object.fromEntries(Object.entries(perVariant).map(([k, v]) => [k, median(v)]));
    const xargsName = `xargs -P ${cores}`;
    const vsSequential = med.ours! / med.sequential!;
    const vsXargs = med.ours! / med[xargsName]!;
    result.summary = {
      medianFilesPerS: med,
      oursVsSequential: vsSequential,
      oursVsXargs: vsXargs,
      goals: { oursVsSequential: '>= 1.8 on 2 cores', oursVsXargs: '>= 0.9' },
      met: { oursVsSequential: vsSequential >= 1.8, oursVsXargs: vsXargs >= 0.9 },
    };
    const file = writeResult(result);
    console.log(`convert: ${count} clips of ${seconds} s, ${cores} cores, ${reps} repetitions (median)\n`);
    console.log(
      table(
        ['converter', 'files/s (median)', 'each repetition', 'ratio', 'goal'],
        [
          ['ours (convertAll)', med.ours!, perVariant.ours!.map((x) => x.toFixed(1)).join(' '), '', ''],
          [
            'sequential ffmpeg',
            med.sequential!,
            perVariant.sequential!.map((x) => x.toFixed(1)).join(' '),
            `ours ${vsSequential.toFixed(2)}×`,
            '≥ 1.8×',
          ],
          [
            xargsName,
            med[xargsName]!,
            perVariant[xargsName]!.map((x) => x.toFixed(1)).join(' '),
            `ours ${vsXargs.toFixed(2)}×`,
            '≥ 0.9×',
          ],
        ],
      ),
    );
    console.log(`\nwrote ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
