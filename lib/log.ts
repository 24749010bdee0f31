import pino, { type Logger } from 'pino';

/**
 * Structured logs on stderr (stdout stays free for machine-readable command output). The level
 * comes from the caller (config.logLevel, LOG_LEVEL), INFO by default.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level }, pino.destination(2));
}

export type { Logger };
