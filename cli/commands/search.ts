import type { Command } from 'commander';
import {
  checkSearchQuery,
  DEFAULT_SEARCH_CANDIDATES,
  searchTranscriptsRanked,
} from '../../db/queries/search-transcripts.ts';
import { errorMessage } from '../../lib/errors.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { integerOption } from '../integer-option.ts';
import { withDatabase } from '../with-database.ts';

export function registerSearchCommand(program: Command, ctx: CliContext): void {
  program
    .command('search')
    .description('Full-text search of the transcripts (web-search syntax: words, "a phrase", -not, or).')
    .argument('<query>', 'what to look for')
    .option('--limit <n>', 'at most this many hits', integerOption(), 20)
    .option('--language <xx>', 'only clips detected in this language')
    .option('--json', 'one JSON object per hit')
    .action(async (query: string, opts: { limit: number; language?: string; json?: boolean }) => {
      try {
        checkSearchQuery(query);
      } catch (err) {
        throw new CliError(errorMessage(err), EXIT.usage);
      }
      await withDatabase(ctx.loadConfig(), { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
        const { hits, exact } = await searchTranscriptsRanked(db, query, {
          limit: opts.limit,
          language: opts.language,
        });
        for (const hit of hits) {
          process.stdout.write(
            opts.json
              ? JSON.stringify(hit) + '\n'
              : `${hit.id}  ${hit.date}  [${hit.language ?? '?'}]  ${hit.snippet}\n`,
          );
        }
        if (!opts.json) {
          const bound = exact
            ? ''
            : ` (ranked among ${DEFAULT_SEARCH_CANDIDATES} of the matches, those that repeat the words most; add words to narrow it)`;
          process.stderr.write(`${hits.length} hit(s)${bound}\n`);
        }
      });
    });
}
