import { BadInputError } from '../lib/errors.ts';
import { parseSource } from '../lib/source/parse.ts';
import { listLocalArchives, type ArchiveListing } from '../lib/source/local.ts';
import type { ActivityContext } from './context.ts';
import { runStage } from './run-stage.ts';
import { shownText } from '../lib/untrusted-text.ts';

export function createListArchives({ config, logger }: ActivityContext) {
  return {
    /** The date's `YYYY-MM-DD_HH-MM.tar.xz` archives at the source. */
    async listArchives(input: { date: string; source?: string }): Promise<{ archives: ArchiveListing[] }> {
      return runStage(async () => {
        const source = input.source ? parseSource(input.source) : config.source;
        const ignored: string[] = [];
        const archives = await listLocalArchives(source.dir, input.date, ignored);
        if (ignored.length) {
          logger.warn(
            {
              date: input.date,
              ignored: ignored.slice(0, 10).map((n) => shownText(n)),
              count: ignored.length,
            },
            'files of the date that are not YYYY-MM-DD_HH-MM.tar.xz archives: not processed',
          );
        }
        if (archives.length === 0) {
          throw new BadInputError(`no ${input.date}_HH-MM.tar.xz archives found`, source.dir);
        }
        return { archives };
      });
    },
  };
}
