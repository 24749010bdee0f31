/**
 * Multi-row upserts keyed by video id that leave identical rows alone: `ON CONFLICT (id) DO
 * UPDATE ... WHERE (row) IS DISTINCT FROM (excluded row)`, so re-storing an archive rewrites
 * nothing (no dead tuples, `updated_at` unchanged) and `RETURNING` counts real changes only.
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

function conflictClause(table: PgTable): { set: Record<string, SQL>; setWhere: SQL } {
  const tableName = quote(getTableName(table));
  const compared = insertedColumns(table).filter(([key]) => !NOT_COMPARED.has(key));
  const set: Record<string, SQL> = Object.fromEntries(
    compared.map(([key, column]) => [key, sql.raw(`excluded.${quote(column.name)}`)]),
  );
  set.updatedAt = sql`now()`;
  const current = compared.map(([, c]) => `${tableName}.${quote(c.name)}`).join(', ');
  const incoming = compared.map(([, c]) => `excluded.${quote(c.name)}`).join(', ');
  return { set, setWhere: sql.raw(`(${current}) IS DISTINCT FROM (${incoming})`) };
}

/**
 * Upserts `rows` (unique ids) in chunks that stay under the bind-parameter limit.
 * Returns how many rows were inserted or actually changed.
 */
export async function upsertById<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  rows: T['$inferInsert'][],
): Promise<number> {
  if (rows.length === 0) return 0;
  const { set, setWhere } = conflictClause(table);
  const chunk = rowsPerStatement(table);
  let changed = 0;
  for (let i = 0; i < rows.length; i += chunk) {
    const written = await db
      .insert(table)
      .values(rows.slice(i, i + chunk))
      .onConflictDoUpdate({ target: table.id, set, setWhere })
      .returning({ id: table.id });
    changed += written.length;
  }
  return changed;
}
