import { loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/log.ts';

/** What every command gets: settings read once (a bad value stops here) and a logger. */
export interface CliContext {
  loadConfig(): Config;
  logger(): Logger;
}

/** The database lifecycle lines (embedded server started, reused) on the command's logger. */
export function dbLogger(ctx: CliContext): { info(m: string): void; warn(m: string): void } {
  return { info: (m) => ctx.logger().info(m), warn: (m) => ctx.logger().warn(m) };
}

export function createCliContext(): CliContext {
  let config: Config | undefined;
  let logger: Logger | undefined;
  return {
    loadConfig: () => (config ??= loadConfig()),
    logger: () => (logger ??= createLogger('audio-pipeline', (config ??= loadConfig()).logLevel)),
  };
}
