import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` diffs db/schema.ts against db/migrations and writes the next migration.
// No credentials here: generating needs no database; applying is db/migrate.ts's job.
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
});
