import { loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/log.ts';

/** What every command gets: settings read once (a bad value stops here) and a logger. */
export interface CliContext {
  loadConfig(): Config;
  logger(): Logger;
  /**
   * Commands whose output is for people (run, demo, status…) keep stage logs quiet unless
   * LOG_LEVEL asks for them; long-running services (worker, dev) log at INFO.
   */
  setDefaultLogLevel(level: LogLevel): void;
  /** LOG_LEVEL=debug: errors come with their stack. False when the settings do not load. */
  debugging(): boolean;
}

type LogLevel = NonNullable<Config['logLevel']>;

/** The database lifecycle lines (embedded server started, reused) on the command's logger. */
export function dbLogger(ctx: CliContext): { info(m: string): void; warn(m: string): void } {
  return { info: (m) => ctx.logger().info(m), warn: (m) => ctx.logger().warn(m) };
}

/** `env`: for tests; the CLI reads the process's environment (through lib/config.ts). */
export function createCliContext(env?: NodeJS.ProcessEnv): CliContext {
  let config: Config | undefined;
  let logger: Logger | undefined;
  let defaultLevel: LogLevel = 'warn';
  const settings = () => (config ??= loadConfig(env));
  return {
    loadConfig: settings,
    logger: () => (logger ??= createLogger('audio-pipeline', settings().logLevel ?? defaultLevel)),
    setDefaultLogLevel: (level) => {
      defaultLevel = level;
    },
    debugging: () => {
      try {
        return settings().logLevel === 'debug';
      } catch {
        return false;
      }
    },
  };
}
