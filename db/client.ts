/**
 * Opens the database: the server named by DATABASE_URL, or else the embedded PostgreSQL under
 * $DATA_DIR/pg (started on demand, reused when another process already runs it).
 * Callers run migrations themselves (`migrate(db)` from db/migrate.ts) and call close() at exit.
 */
import path from 'node:path';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Config } from '../lib/config.ts';
import { startEmbeddedPostgres } from '../local/embedded-postgres.ts';
import * as schema from './schema.ts';

export type AppDatabase = NodePgDatabase<typeof schema> & { $client: pg.Pool };

export interface OpenedDatabase {
  db: AppDatabase;
  pool: pg.Pool;
  /** Connection URL, password included: pass it on, never print it (use displayUrl). */
  url: string;
  /** The URL with the password masked, for logs and messages. */
  displayUrl: string;
  /** true when the server is the embedded one under $DATA_DIR/pg. */
  embedded: boolean;
  /** Ends the pool; stops the embedded server only if this process started it. */
  close(): Promise<void>;
}

/** The subset of a pino logger we use, so callers can pass theirs. */
export interface DbLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface OpenDatabaseOptions {
  logger?: DbLogger;
  /** Pool size; default 10. */
  maxConnections?: number;
}

/** Query parameters that carry a secret (libpq takes `?password=` and `sslpassword=` too). */
const SECRET_PARAM = /pass|secret|token|key/i;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of [...u.searchParams.keys()]) {
      if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
    }
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/**
 * One connection with a 3 s deadline before the pool is used: a wrong host or port in DATABASE_URL is
 * a one-line error within seconds, not a wait on the operating system's connect timeout.
 */
async function checkReachable(url: string, timeoutMs = 3000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `cannot connect to the database ${redactUrl(url)}: ${(err as Error).message || String(err)}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

export async function openDatabase(
  config: Pick<Config, 'dataDir' | 'databaseUrl'>,
  options: OpenDatabaseOptions = {},
): Promise<OpenedDatabase> {
  const log = options.logger;
  const server = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres(path.join(config.dataDir, 'pg'), config.dataDir, (msg) => log?.info(msg));
  const url = config.databaseUrl ?? server!.url;
  try {
    await checkReachable(url);
  } catch (err) {
    await server?.stop();
    throw err;
  }

  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
  // An idle client losing its server (restart, embedded server stopped by its owner) must not
  // crash the process; the next query reports the error instead.
  pool.on('error', (err) => log?.warn(`database connection error: ${err.message}`));
  // So must a client in use — inside a transaction — when the server restarts: its query fails
  // (and the activity is retried), but the client also emits 'error', which the pool listens to
  // only while the client is idle; unheard, it would kill the worker (test/faults/).
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzle({ client: pool, schema }) as AppDatabase;

  let closed = false;
  return {
    db,
    pool,
    url,
    displayUrl: redactUrl(url),
    embedded: server !== undefined,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      await server?.stop();
    },
  };
}
