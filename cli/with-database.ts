import { openDatabase } from '../db/client.ts';
import type { Db } from '../db/queries/database.ts';
import { migrate } from '../db/migrate.ts';
import { dbLogger, type CliContext } from './context.ts';

/** Opens the configured database (or the embedded one), migrated, for one command. */
export async function withDatabase<T>(ctx: CliContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const database = await openDatabase(ctx.loadConfig(), { logger: dbLogger(ctx) });
  try {
    await migrate(database.db);
    return await fn(database.db);
  } finally {
    await database.close();
  }
}
