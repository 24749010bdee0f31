import type { Config } from '../lib/config.ts';
import { openDatabase, type DbLogger, type OpenedDatabase } from '../db/client.ts';
import { migrate as applyMigrations } from '../db/migrate.ts';

export interface WithDatabaseOptions {
  /** Where the embedded server's lifecycle lines go (started, reused…). */
  logger?: DbLogger;
  /** Apply pending migrations first (commands that read the pipeline's tables). */
  migrate?: boolean;
  maxConnections?: number;
}

/**
 * Opens the configured database (DATABASE_URL, or the embedded one) for one command or worker,
 * and closes it — stopping an embedded server this process started — however `fn` ends.
 */
export async function withDatabase<T>(
  config: Config,
  options: WithDatabaseOptions,
  fn: (opened: OpenedDatabase) => Promise<T>,
): Promise<T> {
  const opened = await openDatabase(config, {
    logger: options.logger,
    maxConnections: options.maxConnections,
  });
  try {
    if (options.migrate) await applyMigrations(opened.db);
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
