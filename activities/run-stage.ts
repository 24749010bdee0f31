import { ApplicationFailure, Context } from '@temporalio/activity';
import { BadInputError, ConfigError } from '../lib/errors.ts';

/** How often a running stage tells the server it is alive, whatever its own progress: every 20 s,
 *  or a third of the heartbeat timeout when that is shorter (tests shorten it). */
const KEEPALIVE_MS = 20_000;

/** The progress a stage last reported, re-sent by the keep-alive so it is never overwritten. */
const lastDetails = new WeakMap<Context, unknown>();

/**
 * Runs a stage activity's body:
 * - heartbeats every 20 s (at most a third of the heartbeat timeout) for as long as it runs (re-sending the last progress), so a stage that
 *   is slow without being stuck — a big extract, a model load, a long transaction — is not timed
 *   out by the heartbeat timeout, while a dead worker still is; and so that a cancelled attempt
 *   learns it was cancelled (heartbeats deliver cancellation) instead of racing its retry;
 * - turns BadInputError (input that will never succeed) and ConfigError (a setting that cannot
 *   work, e.g. WHISPER_DEVICE=cuda without CUDA) into non-retryable failures so the workflow
 *   fails fast; anything else is retried with backoff.
 */
export async function runStage<T>(body: () => Promise<T>, keepAliveMs = KEEPALIVE_MS): Promise<T> {
  const ctx = Context.current();
  const timeout = ctx.info.heartbeatTimeoutMs;
  const interval = timeout ? Math.min(keepAliveMs, Math.max(100, timeout / 3)) : keepAliveMs;
  const keepAlive = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), interval);
  try {
    return await body();
  } catch (err) {
    if (err instanceof BadInputError || err instanceof ConfigError) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.name,
        nonRetryable: true,
        cause: err,
      });
    }
    throw err;
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * Heartbeats at most every few seconds with `{ done, total }`: the server shows progress, notices
 * a dead worker within the heartbeat timeout, and a retry reads how far the previous attempt got.
 */
export function progressHeartbeat(total: number, intervalMs = 3000): (done: number) => void {
  const ctx = Context.current();
  let last = 0;
  return (done: number) => {
    lastDetails.set(ctx, { done, total });
    const now = Date.now();
    if (done < total && now - last < intervalMs) return;
    last = now;
    ctx.heartbeat({ done, total });
  };
}

/** How far a previous attempt of this activity got, from its last heartbeat. */
export function previousProgress(): { done: number; total: number } | undefined {
  const details = Context.current().info.heartbeatDetails as { done?: number; total?: number } | undefined;
  return details && typeof details.done === 'number'
    ? { done: details.done, total: details.total ?? 0 }
    : undefined;
}
