import pino, { type Logger } from 'pino';

/** Structured logs on stderr (stdout stays free for machine-readable command output). */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, pino.destination(2));
}

export type { Logger };
