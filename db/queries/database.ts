/**
 * What every query takes: the drizzle database or a transaction on it, so that a caller can
 * compose several queries in one transaction.
 */
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type * as schema from '../schema.ts';

export type Db = PgDatabase<NodePgQueryResultHKT, typeof schema>;
