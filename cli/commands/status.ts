import type { Command } from 'commander';
import { dateStatus } from '../../db/queries/queue.ts';
import { listDates } from '../../db/queries/list-dates.ts';
import { checkDateOption } from '../date-option.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { withDatabase } from '../with-database.ts';
import { requireDatabaseUrlWithRemoteTemporal } from '../../lib/config.ts';

export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('Show the state of one date (per archive) or of every date the pipeline knows.')
    .option('--date <YYYY-MM-DD>', 'one date, with its archives')
    .option('--json', 'machine-readable output (one JSON document)')
    .action(async (opts: { date?: string; json?: boolean }) => {
      if (opts.date) checkDateOption(opts.date);
      const config = ctx.loadConfig();
      requireDatabaseUrlWithRemoteTemporal(config, 'status');
      await withDatabase(config, { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
        if (!opts.date) {
          const dates = await listDates(db);
          if (opts.json) return void process.stdout.write(JSON.stringify(dates) + '\n');
          if (!dates.length) return void process.stdout.write('no dates processed yet\n');
          for (const d of dates)
            process.stdout.write(
              `${d.date}  ${d.status.padEnd(21)} ${d.files_done}/${d.files_total} clips ok, ${d.files_failed} failed\n`,
            );
          return;
        }
        // A date the pipeline has not seen yet is pending, with no archives.
        const status = (await dateStatus(db, opts.date)) ?? {
          date: opts.date,
          status: 'pending',
          archives: [],
        };
        if (opts.json) return void process.stdout.write(JSON.stringify(status) + '\n');
        process.stdout.write(`${status.date}: ${status.status}\n`);
        for (const a of status.archives) {
          process.stdout.write(
            `  ${a.archive}  ${a.status.padEnd(21)} ${a.files_done}/${a.files_total} ok, ${a.files_failed} failed${a.error ? `  — ${a.error}` : ''}\n`,
          );
        }
      });
    });
}
