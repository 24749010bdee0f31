import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFECT_NAMES, generateDay, type DefectName, type Defects } from '../../lib/sample-day/generate.ts';
import type { CliContext } from '../context.ts';
import { checkDateOption } from '../date-option.ts';
import { integerOption } from '../integer-option.ts';

const DEFECTS: readonly string[] = DEFECT_NAMES;

function parseDefects(value: string): Defects {
  const defects: Defects = {};
  for (const name of value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!DEFECTS.includes(name as DefectName))
      throw new InvalidArgumentError(`unknown defect ${name}; expected some of ${DEFECTS.join(', ')}`);
    defects[name as DefectName] = true;
  }
  return defects;
}

/**
 * `audio-pipeline sample`: writes a day of realistic archives (synthetic speech, silence, music,
 * a 99-column metadata.parquet each) into a folder that `SOURCE=local:<dir>` can read, plus
 * truth.json. Progress goes to stderr, the paths written to stdout.
 */
export function registerSampleCommand(program: Command, ctx: CliContext): void {
  program
    .command('sample')
    .description(
      'Generate sample archives (YYYY-MM-DD_HH-MM.tar.xz per 10-minute slot) and truth.json for a date.',
    )
    .requiredOption('--date <YYYY-MM-DD>', 'the day')
    .option('--archives <n>', 'archives, one per 10-minute slot from 00-00 (1-144)', integerOption(1, 144), 3)
    .option('--clips <n>', 'clips per archive', integerOption(1, 100_000), 5)
    .option('--out <dir>', 'output folder (default $DATA_DIR/incoming)')
    .option('--seed <n>', 'seed: the same seed and date give the same files', integerOption(0), 1)
    .option('--defects <list>', `comma-separated defects to include (${DEFECTS.join(', ')})`, parseDefects)
    .action(
      async (opts: {
        date: string;
        archives: number;
        clips: number;
        out?: string;
        seed: number;
        defects?: Defects;
      }) => {
        checkDateOption(opts.date);
        const config = ctx.loadConfig();
        const outDir = path.resolve(opts.out ?? path.join(config.dataDir, 'incoming'));
        const started = Date.now();
        process.stderr.write(
          `generating ${opts.archives} archive(s) × ${opts.clips} clip(s) for ${opts.date} into ${outDir} (seed ${opts.seed})\n`,
        );
        const day = await generateDay({
          date: opts.date,
          archives: opts.archives,
          clipsPerArchive: opts.clips,
          outDir,
          seed: opts.seed,
          defects: opts.defects,
          ffmpegPath: config.ffmpegPath,
          onProgress: (line) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        for (const file of [...day.archives, day.truthPath]) process.stdout.write(`${file}\n`);
      },
    );
}
