import type { Command } from 'commander';
import type { Db } from '../../db/queries/database.ts';
import { countsByStatus } from '../../db/queries/clip-counts.ts';
import { checkDateOption } from '../date-option.ts';
import type { CliContext } from '../context.ts';
import { runDate } from '../date-run.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { integerOption } from '../integer-option.ts';
import { startLocalStack } from '../../local/stack.ts';
import { gracefulStop, InterruptedError } from '../signals.ts';
import { formatSummary } from '../summary.ts';
import { ConfigError } from '../../lib/errors.ts';
import {
  missingGlobusSettings,
  requireDatabaseUrlWithRemoteTemporal,
  type Config,
} from '../../lib/config.ts';
import { parseSource } from '../../lib/source/parse.ts';
import { dateWorkflowId } from '../../workflows/contract.ts';

export function registerRunCommand(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .summary('process one date end to end and print a summary')
    .description(
      'Process one date: start (or attach to) its workflow, show progress, print a summary. ' +
        'Without TEMPORAL_ADDRESS / DATABASE_URL it brings up the embedded server, database and ' +
        'workers for the run and stops them after. Exit code 0: every clip succeeded; 3: the date ' +
        'completed with failed clips or archives; 1: an error; 2: bad usage or settings.',
    )
    .requiredOption('--date <YYYY-MM-DD>', 'the date to process')
    .option('--source <spec>', 'local:<dir> (default: $SOURCE)')
    .option('--archive-concurrency <n>', 'archives processed at once', integerOption())
    .action(async (opts: { date: string; source?: string; archiveConcurrency?: number }) => {
      process.exitCode = await runCommand(ctx, opts);
    });
}

export async function runCommand(
  ctx: CliContext,
  opts: { date: string; source?: string; archiveConcurrency?: number },
  /** Runs after the summary, while the database is still open (the demo's search). */
  afterSummary?: (db: Db) => Promise<void>,
): Promise<number> {
  checkDateOption(opts.date);
  const config = ctx.loadConfig();
  requireDatabaseUrlWithRemoteTemporal(config, 'run');
  if (opts.source) checkSourceOption(opts.source, config);
  const stopping = gracefulStop();
  const interrupted = () => {
    process.stderr.write(
      `interrupted: workflow ${dateWorkflowId(opts.date)} keeps its state; run the same command again to resume it\n`,
    );
    return EXIT.interrupted;
  };
  try {
    const stack = await startLocalStack(config, ctx.logger(), {
      workers: !config.temporal.address,
      signal: stopping.signal,
      say: (line) => process.stderr.write(`${line}\n`),
    });
    try {
      if (stack.uiUrl)
        process.stderr.write(
          `Temporal Web UI (while this runs): ${stack.uiUrl}/namespaces/${config.temporal.namespace}/workflows\n`,
        );
      const running = runDate(
        stack.client,
        {
          date: opts.date,
          source: opts.source,
          archiveConcurrency: opts.archiveConcurrency ?? config.archiveConcurrency,
          gpuTaskQueue: config.temporal.gpuTaskQueue,
        },
        { taskQueue: config.temporal.taskQueue, signal: stopping.signal },
      );
      running.catch(() => {}); // observed below, or cancelled on Ctrl-C
      const summary = await Promise.race([running, stopping.stopped]);
      if (summary instanceof InterruptedError) {
        // Its calls are cancelled: let them settle before their connection closes.
        await running.catch(() => {});
        return interrupted();
      }
      const counts = await countsByStatus(stack.database.db, opts.date);
      process.stdout.write(formatSummary(summary, counts) + '\n');
      await afterSummary?.(stack.database.db);
      if (summary.status === 'failed') return EXIT.error; // no archive could be processed
      return summary.status === 'completed' ? EXIT.ok : EXIT.completedWithErrors;
    } finally {
      await stack.stop();
    }
  } catch (err) {
    if (err instanceof InterruptedError) return interrupted();
    throw err;
  } finally {
    stopping.release();
  }
}

/**
 * `--source` is checked before anything starts, as SOURCE is: a usage error naming the option
 * (a globus: source also needs its client and destination settings here).
 */
function checkSourceOption(spec: string, config: Config): void {
  try {
    if (parseSource(spec).kind === 'globus') {
      const missing = missingGlobusSettings(config.globus);
      if (missing.length > 0) throw new ConfigError(missing.join('; '));
    }
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliError(`--source ${JSON.stringify(spec)}: ${err.message}`, EXIT.usage);
    throw err;
  }
}
