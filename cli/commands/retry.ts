import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { checkDateOption } from '../date-option.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { dbLogger } from '../context.ts';
import { withDatabase } from '../with-database.ts';
import { markDateStarted } from '../../db/queries/date-scheduling.ts';
import { withTemporalClient } from '../../temporal-client/with-client.ts';
import { retryDate } from '../../temporal-client/retry-date.ts';
import { resetDate, type ResetPoint } from '../../temporal-client/reset-date.ts';

const RESET_POINTS: readonly ResetPoint[] = ['last-failure', 'first'];

/** `retry` and `reset`: run a date's failures again, without or with Temporal's reset. */
export function registerRetryCommands(program: Command, ctx: CliContext): void {
  program
    .command('retry')
    .description(
      'Run again only what did not succeed on a date: a new run of its workflow that skips the archives ' +
        'that completed cleanly (failed archives and archives with failed clips run again). If the date ' +
        'is running, nothing new starts. Needs a running server and workers.',
    )
    .requiredOption('--date <YYYY-MM-DD>', 'the date')
    .option('--source <spec>', 'local:<dir> (default: $SOURCE)')
    .action(async (opts: { date: string; source?: string }) => {
      checkDateOption(opts.date);
      const config = ctx.loadConfig();
      const run = await withTemporalClient(config, (client) =>
        retryDate(client, config, opts.date, { source: opts.source }),
      );
      process.stdout.write(
        `${run.workflowId} run ${run.runId}: follow with audio-pipeline status --date ${opts.date}\n`,
      );
    });

  program
    .command('reset')
    .description(
      "Reset a date's latest workflow run with Temporal's reset API (as `temporal workflow reset`): " +
        'from the task that started the last failed archive or activity (last-failure), or from the start ' +
        '(first). The queue row shows the new run.',
    )
    .requiredOption('--date <YYYY-MM-DD>', 'the date')
    .option('--to <point>', 'last-failure or first', 'last-failure')
    .action(async (opts: { date: string; to: string }) => {
      checkDateOption(opts.date);
      if (!RESET_POINTS.includes(opts.to as ResetPoint))
        throw new CliError(`--to must be last-failure or first, got ${JSON.stringify(opts.to)}`, EXIT.usage);
      const config = ctx.loadConfig();
      const reset = await withTemporalClient(config, (client) =>
        resetDate(client, opts.date, opts.to as ResetPoint),
      );
      // The replayed part of the history does not record the start again: say so here.
      await withDatabase(config, { logger: dbLogger(ctx), migrate: true }, ({ db }) =>
        markDateStarted(db, opts.date, reset.workflowId, reset.runId),
      );
      process.stdout.write(`${reset.workflowId} reset at event ${reset.eventId}: new run ${reset.runId}\n`);
    });
}
