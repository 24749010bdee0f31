import type { Command } from 'commander';
import { startMonitor } from '../../monitor/server.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { integerOption } from '../integer-option.ts';
import { gracefulStop } from '../signals.ts';
import { withDatabase } from '../with-database.ts';

export function registerServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .summary('the monitor: dashboard, search and HTTP API, until Ctrl-C')
    .description(
      'Serve the dashboard (dates, archives, failures, search with audio) and its HTTP API. Without ' +
        'DATABASE_URL it opens the embedded PostgreSQL under DATA_DIR, so a finished run or demo can be ' +
        'inspected; Temporal (TEMPORAL_ADDRESS, else a local `dev` server) is optional.',
    )
    .option('--host <address>', 'address to listen on (default: $MONITOR_HOST, 127.0.0.1)')
    .option(
      '--port <n>',
      'port to listen on; 0 picks a free one (default: $MONITOR_PORT, 8080)',
      integerOption(0, 65535),
    )
    .action(async (opts: { host?: string; port?: number }) => {
      const config = ctx.loadConfig();
      const stopping = gracefulStop();
      try {
        await withDatabase(config, { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
          const monitor = await startMonitor(config, db, ctx.logger(), {
            host: opts.host ?? config.monitor.host,
            port: opts.port ?? config.monitor.port,
          });
          process.stdout.write(`Dashboard: ${monitor.url}\n`);
          if (!config.monitor.token)
            process.stderr.write('Actions (retry) are disabled: MONITOR_TOKEN is not set.\n');
          await stopping.stopped;
          await monitor.close();
        });
      } finally {
        stopping.release();
      }
    });
}
