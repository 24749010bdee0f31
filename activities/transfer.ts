import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ConfigError } from '../lib/errors.ts';
import { globusPath, runGlobusTransfer, type TransferProgress } from '../lib/globus/transfer.ts';
import { parseSource, type GlobusSource } from '../lib/source/parse.ts';
import { stageLocalArchive } from '../lib/source/local.ts';
import { stagingFor } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { globusFor } from './globus.ts';
import { progressHeartbeat, recordHeartbeat, runStage } from './run-stage.ts';

interface TransferInput {
  date: string;
  source?: string;
  archives: string[];
}

export function createTransfer({ config, logger }: ActivityContext) {
  /**
   * One Globus task for the date's archives, into STAGING_DIR on GLOBUS_DEST_ENDPOINT. Its task id
   * goes into the heartbeat at once, so a retried attempt resumes that task rather than
   * submitting a second; cancelling the workflow cancels the task.
   */
  async function transferWithGlobus(source: GlobusSource, input: TransferInput): Promise<number> {
    const { client, destinationEndpoint } = globusFor(config);
    const ctx = Context.current();
    const files = input.archives.map(
      (archive) => stagingFor(config, { date: input.date, archive }).archiveFile,
    );
    const task = await runGlobusTransfer(client, {
      source,
      destinationEndpoint,
      label: `audio-pipeline ${input.date}, ${input.archives.length} archives`,
      items: input.archives.map((archive, i) => ({
        source_path: path.posix.join(source.path, `${archive}.tar.xz`),
        destination_path: globusPath(
          config.globus.destinationPath,
          path.relative(config.stagingDir, files[i]),
        ),
      })),
      previous: ctx.info.heartbeatDetails as TransferProgress | undefined,
      record: (progress) => recordHeartbeat(progress),
      pollMs: config.globus.pollMs,
      signal: ctx.cancellationSignal,
      cancelTaskOnAbort: () => ctx.cancellationDetails?.cancelRequested === true,
    });
    let bytes = 0;
    for (const file of files) {
      const s = await stat(file).catch(() => null);
      if (!s?.isFile()) {
        throw new ConfigError(
          `Globus task ${task.task_id} succeeded but ${file} is not there: GLOBUS_DEST_PATH (${config.globus.destinationPath}) must be STAGING_DIR as GLOBUS_DEST_ENDPOINT sees it`,
        );
      }
      bytes += s.size;
    }
    logger.info({ stage: 'transfer', date: input.date, globusTask: task.task_id }, 'globus task succeeded');
    return bytes;
  }

  return {
    /** Brings the named archives into staging (`<staging>/<date>/<archive>/archive.tar.xz`). */
    async transferArchives(input: TransferInput): Promise<{ archives: number; bytes: number }> {
      return runStage(async () => {
        const source = input.source ? parseSource(input.source) : config.source;
        const started = Date.now();
        let bytes = 0;
        if (source.kind === 'globus') bytes = await transferWithGlobus(source, input);
        else {
          const beat = progressHeartbeat(input.archives.length);
          for (const [i, archive] of input.archives.entries()) {
            Context.current().cancellationSignal.throwIfAborted();
            const staging = stagingFor(config, { date: input.date, archive });
            bytes += (await stageLocalArchive(source.dir, archive, staging.archiveFile)).bytes;
            beat(i + 1);
          }
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
