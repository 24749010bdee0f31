/**
 * Multi-row upserts keyed by video id that leave identical rows alone: `ON CONFLICT (id) DO
 * UPDATE ... WHERE (row) IS DISTINCT FROM (row it would become)`, so re-storing an archive
 * rewrites nothing (no dead tuples, `updated_at` unchanged) and `RETURNING` counts real changes
 * only. Rows are written in id order, so two transactions upserting overlapping ids (archives
 * stored concurrently that share a video) lock them in the same order and cannot deadlock.
 *
 * The rows travel as one JSON document per statement, expanded by PostgreSQL's
 * `jsonb_populate_recordset` into the table's own row type (each value parsed by its column's
 * input function, as a bound parameter would be): one small statement whatever the number of
 * rows, instead of a `VALUES` list with a bind parameter per value. Measured on a 100-clip
 * archive (bench/README.md, store), building and binding the `VALUES` form cost more than
 * PostgreSQL's own work for audio_files and audio_metadata rows. (jsonb rather than json: the
 * document is parsed once, and `raw` is then copied as jsonb, not parsed a second time.)
 */
import { getTableColumns, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './database.ts';

/**
 * Rows per statement never above this, to keep statements (and their memory) moderate: a
 * 1,000-transcript JSON document is a few MB.
 */
export const ROWS_PER_STATEMENT = 1_000;

const NOT_COMPARED = new Set(['id', 'createdAt', 'updatedAt']);

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The columns an insert binds (generated ones are computed by PostgreSQL). */
function insertedColumns(table: PgTable): [string, PgColumn][] {
  return Object.entries(getTableColumns(table)).filter(([, column]) => !column.generated) as [
    string,
    PgColumn,
  ][];
}

export interface UpsertOptions {
  /**
   * Per column (by its TypeScript key): what an existing row gets instead of the incoming
   * value, as SQL over the existing row (the table's name) and `excluded`.
   */
  set?: Record<string, SQL>;
  /** An existing row is updated only where this holds as well. */
  guard?: SQL;
}

/** `SET col = …, … WHERE <changed> [AND guard]` of the upsert, as SQL. */
function conflictClause(table: PgTable, options: UpsertOptions): SQL {
  const tableName = quote(getTableName(table));
  const compared = insertedColumns(table).filter(([key]) => !NOT_COMPARED.has(key));
  for (const key of Object.keys(options.set ?? {})) {
    if (!compared.some(([k]) => k === key)) throw new Error(`upsert: no column ${key} to set`);
  }
  const becomes = compared.map(
    ([key, column]) => options.set?.[key] ?? sql.raw(`excluded.${quote(column.name)}`),
  );
  const assignments = sql.join(
    [
      ...compared.map(([, column], i) => sql`${sql.raw(quote(column.name))} = ${becomes[i]!}`),
      sql`${sql.raw(quote(getTableColumns(table).updatedAt!.name))} = now()`,
    ],
    sql.raw(', '),
  );
  const current = sql.raw(compared.map(([, c]) => `${tableName}.${quote(c.name)}`).join(', '));
  const changes = sql`(${current}) IS DISTINCT FROM (${sql.join(becomes, sql.raw(', '))})`;
  return sql`SET ${assignments} WHERE ${options.guard ? sql`${changes} AND (${options.guard})` : changes}`;
}

/**
 * The rows as the JSON array jsonb_populate_recordset reads: keyed by column name, values as the
 * column's input function takes them (jsonb values nested as JSON, arrays as JSON arrays, int8
 * strings as strings). A column no row gives is left out of the insert, so it gets its default
 * (created_at, updated_at); a row without a value that another row gives gets NULL there.
 */
function rowsDocument(columns: [string, PgColumn][], rows: Record<string, unknown>[]): string {
  return JSON.stringify(
    rows.map((row) => Object.fromEntries(columns.map(([key, column]) => [column.name, row[key] ?? null]))),
  );
}

/** Any fixed order does; this one is the ids' (code-unit) order. */
function byId(a: object, b: object): number {
  const x = String((a as { id: unknown }).id);
  const y = String((b as { id: unknown }).id);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Upserts `rows` (unique ids) in id order, up to ROWS_PER_STATEMENT rows per statement.
 * Returns how many rows were inserted or actually changed.
 */
export async function upsertById<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  rows: T['$inferInsert'][],
  options: UpsertOptions = {},
): Promise<number> {
  if (rows.length === 0) return 0;
  const onConflict = conflictClause(table, options);
  const sorted = ([...rows] as Record<string, unknown>[]).sort(byId);
  const columns = insertedColumns(table).filter(([key]) => sorted.some((row) => row[key] !== undefined));
  const tableName = sql.raw(quote(getTableName(table)));
  const columnList = sql.raw(columns.map(([, column]) => quote(column.name)).join(', '));
  let changed = 0;
  for (let i = 0; i < sorted.length; i += ROWS_PER_STATEMENT) {
    const document = rowsDocument(columns, sorted.slice(i, i + ROWS_PER_STATEMENT));
    const written = await db.execute<{ id: string }>(
      sql`INSERT INTO ${tableName} (${columnList})
        SELECT ${columnList} FROM jsonb_populate_recordset(NULL::${tableName}, ${document}::jsonb)
        ON CONFLICT (${sql.raw(quote(table.id.name))}) DO UPDATE ${onConflict}
        RETURNING "id"`,
    );
    changed += written.rows.length;
  }
  return changed;
}
