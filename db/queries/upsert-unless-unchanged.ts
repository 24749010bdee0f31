/**
 * Multi-row upserts keyed by video id that leave identical rows alone: `ON CONFLICT (id) DO
 * UPDATE ... WHERE (row) IS DISTINCT FROM (row it would become)`, so re-storing an archive
 * rewrites nothing (no dead tuples, `updated_at` unchanged) and `RETURNING` counts real changes
 * only. Rows are written in id order, so two transactions upserting overlapping ids (archives
 * stored concurrently that share a video) lock them in the same order and cannot deadlock.
 */
import { getTableColumns, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './database.ts';

/** PostgreSQL's limit on bind parameters in one statement. */
export const MAX_BIND_PARAMETERS = 65_535;
/** Rows per statement never above this, to keep statements (and their memory) moderate. */
const MAX_ROWS_PER_STATEMENT = 1_000;

const NOT_COMPARED = new Set(['id', 'createdAt', 'updatedAt']);

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The columns an insert binds (generated ones are computed by PostgreSQL). */
function insertedColumns(table: PgTable): [string, PgColumn][] {
  return Object.entries(getTableColumns(table)).filter(([, column]) => !column.generated) as [
    string,
    PgColumn,
  ][];
}

export function rowsPerStatement(table: PgTable): number {
  const perRow = insertedColumns(table).length;
  return Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_BIND_PARAMETERS / perRow)));
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

function conflictClause(table: PgTable, options: UpsertOptions): { set: Record<string, SQL>; setWhere: SQL } {
  const tableName = quote(getTableName(table));
  const compared = insertedColumns(table).filter(([key]) => !NOT_COMPARED.has(key));
  for (const key of Object.keys(options.set ?? {})) {
    if (!compared.some(([k]) => k === key)) throw new Error(`upsert: no column ${key} to set`);
  }
  const set: Record<string, SQL> = Object.fromEntries(
    compared.map(([key, column]) => [key, options.set?.[key] ?? sql.raw(`excluded.${quote(column.name)}`)]),
  );
  const current = sql.raw(compared.map(([, c]) => `${tableName}.${quote(c.name)}`).join(', '));
  const becomes = sql.join(
    compared.map(([key]) => set[key]!),
    sql.raw(', '),
  );
  set.updatedAt = sql`now()`;
  const changes = sql`(${current}) IS DISTINCT FROM (${becomes})`;
  return { set, setWhere: options.guard ? sql`${changes} AND (${options.guard})` : changes };
}

/** Any fixed order does; this one is the ids' (code-unit) order. */
function byId(a: object, b: object): number {
  const x = String((a as { id: unknown }).id);
  const y = String((b as { id: unknown }).id);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Upserts `rows` (unique ids) in id order, in chunks that stay under the bind-parameter limit.
 * Returns how many rows were inserted or actually changed.
 */
export async function upsertById<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  rows: T['$inferInsert'][],
  options: UpsertOptions = {},
): Promise<number> {
  if (rows.length === 0) return 0;
  const { set, setWhere } = conflictClause(table, options);
  const sorted = [...rows].sort(byId);
  const chunk = rowsPerStatement(table);
  let changed = 0;
  for (let i = 0; i < rows.length; i += chunk) {
    const written = await db
      .insert(table)
      .values(sorted.slice(i, i + chunk))
      .onConflictDoUpdate({ target: table.id, set, setWhere })
      .returning({ id: table.id });
    changed += written.length;
  }
  return changed;
}
