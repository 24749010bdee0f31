/**
 * memory — peak RSS of each worker process (cpu: workflows, extract, convert, store, upload;
 * gpu: transcription with tiny.en) while one generated date is processed (--clips N, default
 * 2,000; --quick 200; 20 clips per archive, more where 144 archives — a day — do not hold them;
 * the 20,000 took 92 minutes on two shared cores).
 * Bounded memory means no growth with the number of clips, so besides each worker's peak
 * (VmHWM) the resident set sampled every second is split into the four quarters of the run:
 * the peak of the last quarter should be no higher than that of the first, and the slope of RSS
 * against clips transcribed so far (least squares over the samples) should be ~0 MB per 1,000.
 *
 * `--mix trivial|all` as in bench/orchestration.ts (default trivial).
 * `--from bench/results/orchestration.json` analyses the worker samples an orchestration run
 * recorded (the same workers, the same sampling) instead of running another date.
 */
import { readFileSync } from 'node:fs';
import { option, startResult, table, writeResult, type BenchResult } from './lib/report.ts';
import {
  clipMix,
  MIXES,
  runGeneratedDate,
  type ActivitySpan,
  type WorkerMemory,
} from './lib/pipeline-run.ts';

/** Least-squares slope of y against x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((n, x, i) => n + (x - mx) * (ys[i]! - my), 0);
  const den = xs.reduce((n, x) => n + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

interface MemoryRun {
  clips: number;
  clipsPerArchive: number;
  wallS: number;
  memory: Record<'cpu' | 'gpu', WorkerMemory>;
  activities: ActivitySpan[];
}

/** The run an orchestration bench recorded in its result file. */
function recordedRun(file: string): MemoryRun {
  const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  const inputs = result.inputs as { archives: number; clipsPerArchive: number };
  const summary = result.summary as { clips: number; wallS: number };
  const rep = result.repetitions[0] as Pick<MemoryRun, 'memory' | 'activities'>;
  return {
    clips: summary.clips,
    clipsPerArchive: inputs.clipsPerArchive,
    wallS: summary.wallS,
    memory: rep.memory,
    activities: rep.activities,
  };
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const from = option(argv, 'from', '');
  let run: MemoryRun;
  let archivesPerDate: number;
  let mix = 'as recorded';
  if (from) {
    run = recordedRun(from);
    archivesPerDate = Math.round(run.clips / run.clipsPerArchive);
  } else {
    const clips = Number(option(argv, 'clips', quick ? '200' : '2000'));
    const clipKinds = clipMix(option(argv, 'mix', 'trivial'));
    mix = clipKinds;
    // 20 clips per archive up to a full day of 144 archives; above 2,880 clips the archives grow.
    archivesPerDate = Math.min(144, Math.ceil(clips / 20));
    const clipsPerArchive = Math.ceil(clips / archivesPerDate);
    const date = await runGeneratedDate({
      date: '2025-03-10',
      archives: archivesPerDate,
      clipsPerArchive,
      cycle: MIXES[clipKinds],
      log: (l) => process.stderr.write(`${l}\n`),
    });
    run = { ...date, clipsPerArchive };
  }
  const perArchive = run.clipsPerArchive;
  const result = startResult('memory', quick, {
    clips: run.clips,
    clipsPerArchive: perArchive,
    model: 'tiny.en',
    mix,
    from: from || null,
  });
  // Clips transcribed by each sample's time: transcribeClips activities done × clips per archive.
  const firstStart = Math.min(...run.activities.map((a) => a.startMs));
  const transcribedAt = run.activities
    .filter((a) => a.type === 'transcribeClips')
    .map((a) => (a.endMs - firstStart) / 1000)
    .sort((a, b) => a - b);
  const clipsBy = (s: number) => transcribedAt.filter((t) => t <= s).length * perArchive;
  const rows = (['cpu', 'gpu'] as const).map((worker) => {
    const samples = run.memory[worker].samples;
    const quarter = (q: number) =>
      Math.max(
        0,
        ...samples
          .filter(([t]) => t >= (q * run.wallS) / 4 && t < ((q + 1) * run.wallS) / 4)
          .map(([, mb]) => mb),
      );
    // Slope over the second half (the first is start-up: model load, first archives).
    const late = samples.filter(([t]) => t >= run.wallS / 2);
    const perThousand =
      slope(
        late.map(([t]) => clipsBy(t)),
        late.map(([, mb]) => mb),
      ) * 1000;
    return { worker, peakMb: run.memory[worker].peakRssMb, quarters: [0, 1, 2, 3].map(quarter), perThousand };
  });
  result.repetitions.push({ memory: run.memory, wallS: run.wallS, transcribedAt });
  result.summary = {
    clips: run.clips,
    wallS: run.wallS,
    workers: rows,
    goal: 'bounded: no growth with the number of clips',
  };
  const file = writeResult(result);
  console.log(
    `memory: one date of ${run.clips} clips (${archivesPerDate} archives), tiny.en, ${run.wallS.toFixed(0)} s\n`,
  );
  console.log(
    table(
      ['worker', 'peak RSS MB', 'RSS peak per quarter of the run, MB', 'growth MB / 1,000 clips (2nd half)'],
      rows.map((r) => [r.worker, Math.round(r.peakMb), r.quarters.join(' / '), r.perThousand]),
    ),
  );
  console.log(`\nwrote ${file}`);
}

await main(process.argv.slice(2));
