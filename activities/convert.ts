import { Context } from '@temporalio/activity';
import { convertAll, describeOpus } from '../lib/audio/convert.ts';
import { clipsToConvert, markConverted, markFailed } from '../lib/manifest.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { previousProgress, progressHeartbeat, runStage } from './run-stage.ts';

/** From this attempt on (retry policy: 5 attempts), a transient per-clip error fails the clip. */
const LAST_TRIES_FROM = 3;

export function createConvert({ config, logger }: ActivityContext) {
  return {
    /**
     * MP3 → Opus 32 kbps mono 16 kHz, one ffmpeg per core. A clip that fails keeps its reason and
     * the others go on. A retried attempt (a worker that died, a heartbeat timeout) keeps the Opus
     * files the previous one finished: each was renamed into place only when complete.
     */
    async convertClips(ref: ArchiveRef): Promise<{ converted: number; failed: number; resumed: number }> {
      return runStage(async () => {
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('convert');
        const { manifest, rebuilt } = await staging.beginAttempt(attempt);
        if (!manifest) throw new Error(`no manifest in ${staging.dir}`); // beginAttempt rebuilds it
        if (rebuilt) logger.warn({ stage: 'convert', ...ref }, 'manifest.json was damaged: rebuilt');
        const todo = clipsToConvert(manifest);
        const previous = previousProgress();
        if (previous)
          logger.info({ stage: 'convert', ...ref, ...previous }, 'resuming after a previous attempt');

        let resumed = 0;
        const work: typeof todo = [];
        for (const clip of todo) {
          const finished = await describeOpus(staging.opusPath(clip.id));
          if (!finished) {
            work.push(clip);
            continue;
          }
          resumed++;
          markConverted(clip, staging.opusPath(clip.id), finished);
        }
        const beat = progressHeartbeat(todo.length);
        const results = await convertAll(
          work.map((c) => ({ input: c.mp3Path as string, output: staging.opusPath(c.id) })),
          {
            concurrency: config.convertConcurrency,
            maxClipSeconds: config.limits.maxClipSeconds,
            ffmpegPath: config.ffmpegPath,
            signal: Context.current().cancellationSignal,
            onProgress: (done: number) => beat(resumed + done),
          },
        );
        // Disk full, ffmpeg killed and the like are retried — until the last tries, when a clip
        // that still fails is recorded as failed, so that one clip cannot sink its archive.
        const retryTransient = attempt.attempt < LAST_TRIES_FROM;
        const transient: string[] = [];
        results.forEach((result, i) => {
          const clip = work[i];
          if ('error' in result && !result.badInput && retryTransient) {
            transient.push(`${clip.sourceName}: ${result.error}`);
          } else if ('error' in result) {
            markFailed(clip, 'convert', result.error);
          } else {
            markConverted(clip, staging.opusPath(clip.id), result);
          }
        });
        await staging.writeManifest(manifest, attempt);
        if (transient.length) {
          throw new Error(
            `${transient.length} clip(s) could not be converted for a reason worth retrying: ${transient.slice(0, 3).join('; ')}`,
          );
        }
        const failed = work.filter((c) => c.status === 'failed').length;
        const converted = todo.length - failed;
        logger.info(
          { stage: 'convert', ...ref, converted, failed, resumed, ms: Date.now() - started },
          'convert done',
        );
        return { converted, failed, resumed };
      });
    },
  };
}
