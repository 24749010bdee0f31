import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/errors.ts';
import { parseSource } from '../lib/source/parse.ts';
import { listLocalArchives, type ArchiveListing } from '../lib/source/local.ts';
import { listGlobusArchives } from '../lib/globus/transfer.ts';
import type { ActivityContext } from './context.ts';
import { globusFor } from './globus.ts';
import { runStage } from './run-stage.ts';
import { shownText } from '../lib/untrusted-text.ts';

export function createListArchives({ config, logger }: ActivityContext) {
  return {
    /** The date's `YYYY-MM-DD_HH-MM.tar.xz` archives at the source (a local folder, a Globus folder). */
    async listArchives(input: { date: string; source?: string }): Promise<{ archives: ArchiveListing[] }> {
      return runStage(async () => {
        const source = input.source ? parseSource(input.source) : config.source;
        const ignored: string[] = [];
        const where = source.kind === 'local' ? source.dir : `globus:${source.endpoint}:${source.path}`;
        const archives =
          source.kind === 'local'
            ? await listLocalArchives(source.dir, input.date, ignored)
            : await listGlobusArchives(
                globusFor(config).client,
                source,
                input.date,
                ignored,
                Context.current().cancellationSignal,
              );
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
          throw new BadInputError(`no ${input.date}_HH-MM.tar.xz archives found`, where);
        }
        return { archives };
      });
    },
  };
}
