import { Context } from '@temporalio/activity';
import { parseSource } from '../lib/source/parse.ts';
import { stageLocalArchive } from '../lib/source/local.ts';
import { stagingFor } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { progressHeartbeat, runStage } from './run-stage.ts';

export function createTransfer({ config, logger }: ActivityContext) {
  return {
    /** Brings the named archives into staging (`<staging>/<date>/<archive>/archive.tar.xz`). */
    async transferArchives(input: {
      date: string;
      source?: string;
      archives: string[];
    }): Promise<{ archives: number; bytes: number }> {
      return runStage(async () => {
        const source = input.source ? parseSource(input.source) : config.source;
        const beat = progressHeartbeat(input.archives.length);
        const started = Date.now();
        let bytes = 0;
        for (const [i, archive] of input.archives.entries()) {
          Context.current().cancellationSignal.throwIfAborted();
          const staging = stagingFor(config, { date: input.date, archive });
          bytes += (await stageLocalArchive(source.dir, archive, staging.archiveFile)).bytes;
          beat(i + 1);
        }
        logger.info(
          {
            stage: 'transfer',
            date: input.date,
            archives: input.archives.length,
            bytes,
            ms: Date.now() - started,
          },
          'transfer done',
        );
        return { archives: input.archives.length, bytes };
      });
    },
  };
}
