import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { exportDate, EXPORT_KEYS } from '../../db/queries/export-date.ts';
import { checkDateOption } from '../date-option.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { withDatabase } from '../with-database.ts';

export function registerExportCommand(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('Write every clip of a date with its status and transcript (JSON lines or CSV).')
    .requiredOption('--date <YYYY-MM-DD>', 'the date to export')
    .option('--format <jsonl|csv>', 'output format', 'jsonl')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (opts: { date: string; format: string; out?: string }) => {
      checkDateOption(opts.date);
      if (opts.format !== 'jsonl' && opts.format !== 'csv')
        throw new CliError(`--format must be jsonl or csv, got ${JSON.stringify(opts.format)}`, EXIT.usage);
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      await withDatabase(ctx.loadConfig(), { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
        if (opts.format === 'csv') out.write(EXPORT_KEYS.join(',') + '\n');
        let rows = 0;
        for await (const row of exportDate(db, opts.date)) {
          out.write(
            opts.format === 'csv'
              ? EXPORT_KEYS.map((k) => csvField(row[k])).join(',') + '\n'
              : JSON.stringify(row) + '\n',
          );
          rows++;
        }
        if (rows === 0) process.stderr.write(`no clips stored for ${opts.date}\n`);
      });
      if (out !== process.stdout)
        await new Promise<void>((resolve, reject) =>
          out.end((err?: Error | null) => (err ? reject(err) : resolve())),
        );
    });
}

/** RFC 4180: quote fields holding a comma, quote or line break; double the quotes. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'string' ? value : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
