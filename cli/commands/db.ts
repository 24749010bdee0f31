/**
 * `audio-pipeline db migrate | test-connection | get-pending --limit N [--json]`.
 *
 * Wiring (cli/main.ts):
 *   registerDbCommands(program, { loadConfig });                // minimal
 *   registerDbCommands(program, { loadConfig, logger, print }); // with the CLI's pino logger
 *
 * `DbCommandContext`:
 *   - loadConfig(): the validated settings (lib/config.ts); called when a command runs, not at
 *     registration, so `--help` works with a bad environment.
 *   - logger (optional): where database lifecycle lines go (embedded server started/reused…);
 *     a pino logger fits. Default: none.
 *   - print (optional): where command output goes, one line per call. Default: stdout.
 * Errors are thrown (commander's parseAsync rejects) for main.ts to report; `test-connection`
 * instead prints the failure and sets process.exitCode = 1, since failing is its answer.
 */
import type { Command } from 'commander';
import type { Config } from '../../lib/config.ts';
import { causeChain, errorMessage } from '../../lib/errors.ts';
import type { DbLogger } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { getPending } from '../../db/queries/queue.ts';
import { integerOption } from '../integer-option.ts';
import { withDatabase } from '../with-database.ts';

export interface DbCommandContext {
  loadConfig(): Config;
  logger?: DbLogger;
  print?(line: string): void;
}

/** The maintenance commands need one connection at a time; 2 leaves room for the pool's checks. */
const open = <T>(ctx: DbCommandContext, fn: Parameters<typeof withDatabase<T>>[2]): Promise<T> =>
  withDatabase(ctx.loadConfig(), { logger: ctx.logger, maxConnections: 2 }, fn);

/** "relation does not exist": the schema was never migrated. */
function explainMissingSchema(err: unknown): never {
  if (causeChain(err).some((e) => (e as { code?: unknown }).code === '42P01'))
    throw new Error('the database has no pipeline tables yet: run `audio-pipeline db migrate` first');
  throw err;
}

export function registerDbCommands(program: Command, ctx: DbCommandContext): Command {
  const print = ctx.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const db = program
    .command('db')
    .description('database maintenance: migrations, connectivity, the processing queue');

  db.command('migrate')
    .description('apply pending schema migrations (idempotent)')
    .action(async () => {
      await open(ctx, async ({ db: database, displayUrl }) => {
        await migrate(database);
        print(`migrations applied: ${displayUrl}`);
      });
    });

  db.command('test-connection')
    .description('connect and print the server version')
    .action(async () => {
      try {
        await open(ctx, async ({ pool, displayUrl, embedded }) => {
          const { rows } = await pool.query<{ version: string }>('SELECT version() AS version');
          print(`ok: ${displayUrl}${embedded ? ' (embedded)' : ''}`);
          print(rows[0]!.version);
        });
      } catch (err) {
        print(`connection failed: ${errorMessage(err)}`);
        process.exitCode = 1;
      }
    });

  db.command('get-pending')
    .description('dates waiting to be processed (pending or failed), oldest first')
    .option('--limit <n>', 'at most this many dates', integerOption(), 10)
    .option('--json', 'one JSON array on stdout')
    .action(async (opts: { limit: number; json?: boolean }) => {
      await open(ctx, async ({ db: database }) => {
        const pending = await getPending(database, opts.limit).catch(explainMissingSchema);
        if (opts.json) {
          print(
            JSON.stringify(
              pending.map((p) => ({
                date: p.date,
                status: p.status,
                attempts: p.attempts,
                last_error: p.lastError,
              })),
            ),
          );
          return;
        }
        if (pending.length === 0) {
          print('no pending dates');
          return;
        }
        for (const p of pending) {
          const error = p.lastError ? `  last error: ${p.lastError}` : '';
          print(`${p.date}  ${p.status.padEnd(7)}  attempts=${p.attempts}${error}`);
        }
      });
    });

  return db;
}
