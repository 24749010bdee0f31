import { ApplicationFailure, Context } from '@temporalio/activity';
import type { BatchGate } from '../lib/hpc/walltime.ts';
import { clipsToTranscribe, type TranscriptLine } from '../lib/manifest.ts';
import type { WhisperEngine } from '../lib/whisper/transcribe.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { progressHeartbeat, runStage } from './run-stage.ts';

export interface TranscribeContext extends ActivityContext {
  /** The worker's engine, loaded once on first use and shared by all activity calls. */
  engine(): Promise<WhisperEngine>;
  modelName: string;
  /** A pilot job's walltime: asked before each batch (workers/pilot.ts); absent = always go on. */
  batchGate?: BatchGate;
}

export function createTranscribe(ctx: TranscribeContext) {
  const { config, logger } = ctx;
  return {
    /**
     * Transcribes the archive's converted clips in batches across clips. Each finished batch is
     * appended to this attempt's partial file, so a retry (a preempted GPU job) skips the clips
     * already done; the complete file becomes `transcripts.jsonl` at the end (lib/staging.ts).
     */
    async transcribeClips(
      ref: ArchiveRef,
    ): Promise<{ transcribed: number; noSpeech: number; failed: number; resumed: number }> {
      return runStage(async () => {
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('transcribe');
        const { manifest, rebuilt } = await staging.beginAttempt(attempt);
        if (!manifest) throw new Error(`no manifest in ${staging.dir}`); // beginAttempt rebuilds it
        if (rebuilt) logger.warn({ stage: 'transcribe', ...ref }, 'manifest.json was damaged: rebuilt');
        const clips = clipsToTranscribe(manifest);
        const journal = staging.transcripts(attempt, ctx.modelName);
        const finished = await journal.finished(clips.map((c) => c.id));
        if (finished) return summarize(finished, finished.length); // a retry after the file was complete

        const done = await journal.resume();
        const todo = clips.filter((c) => !done.has(c.id));
        const engine = await ctx.engine();
        const beat = progressHeartbeat(clips.length);
        const signal = Context.current().cancellationSignal;
        const chunk = Math.max(1, config.whisper.batchSize * 4);
        const metrics = engineMetrics(Context.current());

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
          await journal.append(lines);
          metrics.batchClips.record(batch.length);
          metrics.audioSeconds.add(
            Math.round(results.reduce((s, r) => s + ('error' in r ? 0 : r.duration_s), 0)),
          );
          ctx.batchGate?.recordBatch(Date.now() - batchStarted);
          beat(done.size + i + batch.length);
        }
        const summary = summarize(await journal.complete(), done.size);
        ctx.batchGate?.taskDone?.();
        logger.info({ stage: 'transcribe', ...ref, ...summary, ms: Date.now() - started }, 'transcribe done');
        return summary;
      });
    },
  };
}

/**
 * Served by the worker's Prometheus endpoint when WORKER_METRICS_ADDRESS is set (the SDK's meter;
 * a no-op otherwise): how many clips each engine call got, and how much audio went through.
 */
function engineMetrics(ctx: Context) {
  return {
    batchClips: ctx.metricMeter.createHistogram(
      'audio_pipeline_whisper_batch_clips',
      'int',
      'clips',
      'Clips per transcription call (the engine batches their windows WHISPER_BATCH_SIZE at a time)',
    ),
    audioSeconds: ctx.metricMeter.createCounter(
      'audio_pipeline_transcribed_audio_seconds',
      's',
      'Seconds of audio transcribed',
    ),
  };
}

/**
 * A worker near its end (walltime, SIGTERM) hands the rest of the archive over: a retryable
 * failure that Temporal retries at once on another worker, which resumes from the batches already
 * in the partial transcripts file — instead of waiting out the heartbeat timeout of a killed job.
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
