import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { startLocalStack } from '../../local/stack.ts';

export function registerDevCommand(program: Command, ctx: CliContext): void {
  program
    .command('dev')
    .summary('Temporal dev server + Web UI, embedded PostgreSQL and both workers, until Ctrl-C')
    .description(
      'Run everything on this machine: Temporal dev server (Web UI), embedded PostgreSQL and both workers. Ctrl-C stops all.',
    )
    .action(async () => {
      const config = ctx.loadConfig();
      const stack = await startLocalStack(config, ctx.logger(), { workers: true });
      process.stderr.write(
        [
          `Temporal: ${stack.temporalAddress}${stack.uiUrl ? `  Web UI: ${stack.uiUrl}` : ''}`,
          `Database: ${stack.database.displayUrl}${stack.database.embedded ? ' (embedded)' : ''}`,
          `Workers: ${config.temporal.taskQueue}, ${config.temporal.gpuTaskQueue}`,
          `Start a date: audio-pipeline run --date YYYY-MM-DD  (or temporal workflow start --type processDate ...)`,
          'Ctrl-C stops everything.',
        ].join('\n') + '\n',
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stderr.write('stopping…\n');
      await stack.stop();
    });
}
