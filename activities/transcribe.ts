import { appendFile, readFile, rename } from 'node:fs/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { BatchGate } from '../lib/hpc/walltime.ts';
import type { TranscriptRecord } from '../lib/manifest.ts';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import type { WhisperEngine } from '../lib/whisper/transcribe.ts';
import { stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { progressHeartbeat, runStage } from './run-stage.ts';

export interface TranscribeContext extends ActivityContext {
  /** The worker's engine, loaded once on first use and shared by all activity calls. */
  engine(): Promise<WhisperEngine>;
  modelName: string;
  /** A pilot job's walltime: asked before each batch (workers/pilot.ts); absent = always go on. */
  batchGate?: BatchGate;
}

/** A line of transcripts.jsonl: a transcript, or the reason a clip could not be transcribed. */
export type TranscriptLine = TranscriptRecord | { id: string; error: string };

export function createTranscribe(ctx: TranscribeContext) {
  const { config, logger } = ctx;
  return {
    /**
     * Transcribes the archive's converted clips in batches across clips. Each finished batch is
     * appended to `transcripts.jsonl.partial`, so a retry (a preempted GPU job) skips the clips
     * already done; the complete file is renamed to `transcripts.jsonl` at the end.
     */
    async transcribeClips(
      ref: ArchiveRef,
    ): Promise<{ transcribed: number; noSpeech: number; failed: number; resumed: number }> {
      return runStage(async () => {
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const manifest = await staging.readManifest();
        const clips = manifest.clips.filter((c) => c.status === 'converted' && c.opusPath);
        // Lines written with another model (WHISPER_MODEL changed between runs) are not reused.
        const sameModel = (l: TranscriptLine) => 'error' in l || l.model === ctx.modelName;
        const finished = (await readJsonl(staging.transcriptsFile)).filter(sameModel);
        if (finished.length > 0 && clips.every((c) => finished.some((l) => l.id === c.id))) {
          return summarize(finished, finished.length); // a retry after the file was complete
        }
        const partial = `${staging.transcriptsFile}.partial`;
        const kept = (await readJsonl(partial)).filter(sameModel);
        // Rewrite what survived so that a torn last line cannot swallow the next append.
        await writeFileAtomic(partial, kept.map((l) => JSON.stringify(l) + '\n').join(''));
        const done = new Set(kept.map((l) => l.id));
        const todo = clips.filter((c) => !done.has(c.id));
        const engine = await ctx.engine();
        const beat = progressHeartbeat(clips.length);
        const signal = Context.current().cancellationSignal;
        const chunk = Math.max(1, config.whisper.batchSize * 4);

        for (let i = 0; i < todo.length; i += chunk) {
          signal.throwIfAborted();
          const decision = ctx.batchGate?.mayStartBatch() ?? { start: true };
          if (!decision.start) {
            beat(done.size + i);
            throw handOver(decision.reason, done.size + i, clips.length);
          }
          const batchStarted = Date.now();
          const batch = todo.slice(i, i + chunk);
          const results = await engine.transcribeFiles(
            batch.map((c) => c.opusPath as string),
            { language: config.whisper.language, signal, onProgress: (n: number) => beat(done.size + i + n) },
          );
          const lines: TranscriptLine[] = results.map((r, j) =>
            'error' in r
              ? { id: batch[j].id, error: r.error }
              : {
                  id: batch[j].id,
                  model: ctx.modelName,
                  language: r.language,
                  language_prob: r.language_prob,
                  text: r.text,
                  no_speech: r.no_speech,
                  duration_s: r.duration_s,
                  segments: r.segments,
                },
          );
          await appendFile(partial, lines.map((l) => JSON.stringify(l) + '\n').join(''));
          ctx.batchGate?.recordBatch(Date.now() - batchStarted);
          beat(done.size + i + batch.length);
        }
        await rename(partial, staging.transcriptsFile).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err; // nothing to transcribe: write an empty file
          await appendFile(staging.transcriptsFile, '');
        });
        const summary = summarize(await readJsonl(staging.transcriptsFile), done.size);
        logger.info({ stage: 'transcribe', ...ref, ...summary, ms: Date.now() - started }, 'transcribe done');
        return summary;
      });
    },
  };
}

/**
 * A worker near its end (walltime, SIGTERM) hands the rest of the archive over: a retryable
 * failure that Temporal retries at once on another worker, which resumes from the batches already
 * in `transcripts.jsonl.partial` — instead of waiting out the heartbeat timeout of a killed job.
 */
function handOver(reason: string, done: number, total: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'WorkerLeaving',
    message: `worker leaving: ${reason}; ${done} of ${total} clips done, the rest resumes on another worker`,
    nextRetryDelay: '1s',
  });
}

function summarize(lines: TranscriptLine[], resumed: number) {
  const failed = lines.filter((l) => 'error' in l).length;
  const noSpeech = lines.filter((l) => 'no_speech' in l && l.no_speech).length;
  return { transcribed: lines.length - failed, noSpeech, failed, resumed };
}

export async function readJsonl(file: string): Promise<TranscriptLine[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  // A crash mid-append can leave a torn last line: it is dropped and that batch redone.
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as TranscriptLine];
      } catch {
        return [];
      }
    });
}
