import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { startLocalStack } from '../../local/stack.ts';
import { EXIT } from '../exit-codes.ts';
import { gracefulStop, InterruptedError } from '../signals.ts';

export function registerDevCommand(program: Command, ctx: CliContext): void {
  program
    .command('dev')
    .summary('Temporal dev server + Web UI, embedded PostgreSQL and both workers, until Ctrl-C')
    .description(
      'Run everything on this machine: Temporal dev server (Web UI), embedded PostgreSQL and both workers. Ctrl-C stops all.',
    )
    .action(async () => {
      const config = ctx.loadConfig();
      const stopping = gracefulStop();
      try {
        const stack = await startLocalStack(config, ctx.logger(), {
          workers: true,
          signal: stopping.signal,
          say: (line) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(
          [
            `Temporal: ${stack.temporalAddress}${stack.uiUrl ? `  Web UI: ${stack.uiUrl}` : ''}`,
            `Database: ${stack.database.displayUrl}${stack.database.embedded ? ' (embedded)' : ''}`,
            `Workers: ${config.temporal.taskQueue}, ${config.temporal.gpuTaskQueue}`,
            `Start a date: audio-pipeline run --date YYYY-MM-DD  (or temporal workflow start --type processDate ...)`,
            'Ctrl-C stops everything.',
          ].join('\n') + '\n',
        );
        await stopping.stopped;
        await stack.stop();
        process.stderr.write('stopped\n');
      } catch (err) {
        // A signal while starting: what had started is stopped already.
        if (!(err instanceof InterruptedError)) throw err;
        process.exitCode = EXIT.interrupted;
      } finally {
        stopping.release();
      }
    });
}
