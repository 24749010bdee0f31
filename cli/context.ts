import { loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/log.ts';

/** What every command gets: settings read once (a bad value stops here) and a logger. */
export interface CliContext {
  loadConfig(): Config;
  logger(): Logger;
}

export function createCliContext(): CliContext {
  let config: Config | undefined;
  let logger: Logger | undefined;
  return {
    loadConfig: () => (config ??= loadConfig()),
    logger: () => (logger ??= createLogger('audio-pipeline', (config ??= loadConfig()).logLevel)),
  };
}
