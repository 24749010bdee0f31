import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { generateDay } from '../../lib/sample-day/generate.ts';
import type { CliContext } from '../context.ts';
import { checkDateOption } from '../date-option.ts';
import type { Db } from '../../db/queries/database.ts';
import { exportDate } from '../../db/queries/export-date.ts';
import { searchTranscripts } from '../../db/queries/search-transcripts.ts';
import { integerOption } from '../integer-option.ts';
import { monitorUrl } from '../../monitor/server.ts';
import { runCommand } from './run.ts';

export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .summary('run a generated sample day end to end on the embedded defaults')
    .description(
      'Generate a sample day of archives (synthetic speech, silence, music), fetch the Whisper model if ' +
        'needed, and run the whole pipeline on it with the embedded defaults; prints the summary.',
    )
    .option('--date <YYYY-MM-DD>', 'the sample date', '2024-01-15')
    .option('--archives <n>', 'archives (10-minute slots) to generate', integerOption(1, 144), 3)
    .option('--clips <n>', 'clips per archive', integerOption(), 6)
    .action(async (opts: { date: string; archives: number; clips: number }) => {
      checkDateOption(opts.date);
      const config = ctx.loadConfig();
      const incoming = path.join(config.dataDir, 'demo', 'incoming');
      const have = existsSync(incoming)
        ? readdirSync(incoming).filter((f) => f.startsWith(`${opts.date}_`)).length
        : 0;
      if (have < opts.archives) {
        process.stderr.write(
          `Generating ${opts.archives} archives × ${opts.clips} clips for ${opts.date} in ${incoming}\n`,
        );
        await generateDay({
          date: opts.date,
          archives: opts.archives,
          clipsPerArchive: opts.clips,
          outDir: incoming,
          seed: 1,
          ffmpegPath: config.ffmpegPath,
        });
      }
      const code = await runCommand(ctx, { date: opts.date, source: `local:${incoming}` }, (db) =>
        showSearch(db, opts.date),
      );
      const cmd = commandName();
      const hints: [string, string][] = [
        [`${cmd} search "your words"`, 'full-text search of the transcripts'],
        [`${cmd} export --date ${opts.date}`, 'every clip with status and transcript (JSON lines)'],
        [`${cmd} status --date ${opts.date}`, 'per-archive state'],
        [`${cmd} dev`, `Temporal Web UI on http://127.0.0.1:${config.temporal.uiPort}`],
        [`${cmd} serve`, 'the dashboard below: dates, failures, search with audio'],
      ];
      const width = Math.max(...hints.map(([c]) => c.length));
      process.stdout.write(
        [
          '',
          'Try next:',
          ...hints.map(([c, what]) => `  ${c.padEnd(width)}  # ${what}`),
          '',
          `Dashboard (while \`${cmd} serve\` runs): ${monitorUrl(config.monitor.host, config.monitor.port)}`,
        ].join('\n') + '\n',
      );
      process.exitCode = code;
    });
}

/** How the user can call us again: `audio-pipeline` when installed (npm link), else the checkout's script. */
function commandName(): string {
  const script = process.argv[1] ?? '';
  if (path.basename(script) === 'audio-pipeline') return 'audio-pipeline';
  const relative = path.relative(process.cwd(), script);
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/** Searches the longest word of one stored transcript, to show that spoken words are findable. */
async function showSearch(db: Db, date: string): Promise<void> {
  for await (const row of exportDate(db, date)) {
    const word = row.text?.split(/[^\p{L}\p{N}]+/u).sort((a, b) => b.length - a.length)[0];
    if (!word) continue;
    const hits = await searchTranscripts(db, word, { date, limit: 3 });
    process.stdout.write(`\nsearch "${word}": ${hits.length} hit(s)\n`);
    for (const hit of hits) process.stdout.write(`  ${hit.id}  [${hit.language ?? '?'}]  ${hit.snippet}\n`);
    return;
  }
}
