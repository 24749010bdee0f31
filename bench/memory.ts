/**
 * memory — peak RSS of each worker process (cpu: workflows, extract, convert, store, upload;
 * gpu: transcription with tiny.en) while processing generated dates of growing size. The goal is
 * bounded memory: no growth with the number of clips. A 20,000-clip date (--clips 20000) takes
 * hours on two shared cores, so by default dates of 400, 800 and 1,600 clips (20 clips per
 * archive; --quick: 100 and 200) are run and the growth per 1,000 clips is reported — the slope
 * of peak RSS against clips, which bounded memory keeps near 0.
 */
import { option, startResult, table, writeResult } from './lib/report.ts';
import { runGeneratedDate } from './lib/pipeline-run.ts';

/** Least-squares slope of y against x. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((n, x, i) => n + (x - mx) * (ys[i]! - my), 0);
  const den = xs.reduce((n, x) => n + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const sizes = option(argv, 'clips', quick ? '100,200' : '400,800,1600')
    .split(',')
    .map(Number);
  const perArchive = 20;
  const result = startResult('memory', quick, { sizes, clipsPerArchive: perArchive, model: 'tiny.en' });
  const rows: Array<{ clips: number; cpu: number; gpu: number; wallS: number }> = [];
  for (const [i, clips] of sizes.entries()) {
    const run = await runGeneratedDate({
      date: `2025-03-${String(10 + i).padStart(2, '0')}`,
      archives: Math.ceil(clips / perArchive),
      clipsPerArchive: perArchive,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    rows.push({
      clips: run.clips,
      cpu: run.memory.cpu.peakRssMb,
      gpu: run.memory.gpu.peakRssMb,
      wallS: run.wallS,
    });
    result.repetitions.push({ clips: run.clips, wallS: run.wallS, memory: run.memory });
    process.stderr.write(
      `${run.clips} clips: cpu ${run.memory.cpu.peakRssMb.toFixed(0)} MB, gpu ${run.memory.gpu.peakRssMb.toFixed(0)} MB\n`,
    );
  }
  const x = rows.map((r) => r.clips);
  const perThousand = {
    cpu:
      slope(
        x,
        rows.map((r) => r.cpu),
      ) * 1000,
    gpu:
      slope(
        x,
        rows.map((r) => r.gpu),
      ) * 1000,
  };
  result.summary = {
    rows,
    growthMbPer1000Clips: perThousand,
    goal: 'bounded: no growth with the number of clips',
  };
  const file = writeResult(result);
  console.log(`memory: peak RSS per worker process, tiny.en, ${perArchive} clips per archive\n`);
  console.log(
    table(
      ['clips', 'cpu worker peak MB', 'gpu worker peak MB', 'wall s'],
      rows.map((r) => [r.clips, Math.round(r.cpu), Math.round(r.gpu), Math.round(r.wallS)]),
    ),
  );
  console.log(
    `\ngrowth per 1,000 clips: cpu ${perThousand.cpu.toFixed(1)} MB, gpu ${perThousand.gpu.toFixed(1)} MB (goal: ~0)`,
  );
  console.log(`\nwrote ${file}`);
}

await main(process.argv.slice(2));
