import { openDatabase, type Database } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import type { CliContext } from './context.ts';

/** Opens the configured database (or the embedded one), migrated, for one command. */
export async function withDatabase<T>(ctx: CliContext, fn: (db: Database) => Promise<T>): Promise<T> {
  const database = await openDatabase(ctx.loadConfig());
  try {
    await migrate(database.db);
    return await fn(database.db);
  } finally {
    await database.close();
  }
}
