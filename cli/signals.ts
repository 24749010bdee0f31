/**
 * SIGINT / SIGTERM for the whole CLI. A command that can stop gracefully (run, dev, demo,
 * worker, transcribe) asks for `gracefulStop()`: the first signal aborts its AbortSignal and the
 * command takes down what it started, in order; if that takes longer than the grace period, or a
 * second signal comes, the process exits at once. A command that asked for nothing exits at once
 * on the first signal. Every exit — forced ones included — runs the 'exit' hooks: the dev
 * server's process group and the embedded PostgreSQL are stopped there, and any process still
 * below this one is killed (lib/child-processes.ts), so nothing outlives the CLI.
 */
import { setMaxListeners } from 'node:events';
import { killDescendants } from '../lib/child-processes.ts';
import { EXIT } from './exit-codes.ts';

/** How long a graceful stop may take before the process exits anyway. */
export const GRACEFUL_STOP_MS = 15_000;

/** The stops asked for, each with the time it may take. */
const controllers = new Map<AbortController, number>();
let signalsSeen = 0;
let firstSignal: NodeJS.Signals = 'SIGINT';
let installed = false;

/**
 * Set by bin/audio-pipeline.js before anything loads: whether the command holds a signal that
 * comes before it asked for a graceful stop (the worker: a pilot job signalled as it starts), and
 * the signals that came while the modules loaded.
 */
const EARLY_SIGNALS = Symbol.for('audio-pipeline.early-signals');
type EarlySignals = {
  hold: boolean;
  signals: NodeJS.Signals[];
  listener: (signal: NodeJS.Signals) => void;
};
/** Whether a signal before any graceful stop is held for it rather than exiting at once. */
let holdUntilStop = false;

/** Installed by cli/main.ts before any command runs. */
export function installSignalHandling(
  say: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => killDescendants('SIGKILL'));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalsSeen++ === 0) firstSignal = signal;
    if (signalsSeen > 1 || (controllers.size === 0 && !holdUntilStop))
      forceExit(signal, say, signalsSeen > 1 ? 'second signal' : '');
    if (controllers.size === 0) {
      say(`${signal} while starting: stopping before any work is taken`);
      return; // the command's graceful stop starts out aborted
    }
    say(`\n${signal}: stopping (send it again to force)`);
    const graceMs = Math.max(GRACEFUL_STOP_MS, ...controllers.values());
    for (const c of controllers.keys()) c.abort(new InterruptedError(signal));
    setTimeout(() => forceExit(signal, say, `not stopped after ${graceMs / 1000} s`), graceMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Taken over from the entry point (added first: no moment without a handler). The signals
  // that came while the modules loaded are handled as if they came now: the first is held (the
  // command's graceful stop starts out aborted), a second forces the exit as always.
  const early = (globalThis as Record<symbol, EarlySignals | undefined>)[EARLY_SIGNALS];
  if (early) {
    holdUntilStop = early.hold;
    process.off('SIGINT', early.listener);
    process.off('SIGTERM', early.listener);
    for (const signal of early.signals) onSignal(signal);
  }
}

/** The reason of a graceful stop's AbortSignal. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * An AbortSignal that the first SIGINT/SIGTERM aborts (with an InterruptedError), and `release()`
 * for when the command no longer needs it. Already aborted when a signal came before the call.
 * `graceMs`: how long the stop may take before the process exits anyway (a GPU pilot job lets
 * its batch in flight finish: PILOT_GRACE_S).
 */
export function gracefulStop(graceMs = GRACEFUL_STOP_MS): {
  signal: AbortSignal;
  stopped: Promise<InterruptedError>;
  release(): void;
} {
  const controller = new AbortController();
  // One stop signal is shared by all of a command's concurrent work: every Temporal RPC in
  // flight (a progress poll describes each running archive) listens on it, so more than Node's
  // default of 10 listeners is expected here, not a leak.
  setMaxListeners(0, controller.signal);
  if (signalsSeen > 0) controller.abort(new InterruptedError(firstSignal));
  else controllers.set(controller, graceMs);
  const stopped = new Promise<InterruptedError>((resolve) => {
    const done = () => resolve(controller.signal.reason as InterruptedError);
    if (controller.signal.aborted) done();
    else controller.signal.addEventListener('abort', done, { once: true });
  });
  return { signal: controller.signal, stopped, release: () => controllers.delete(controller) };
}

function forceExit(signal: NodeJS.Signals, say: (line: string) => void, why: string): never {
  if (why) say(`${signal}: ${why}, exiting now`);
  process.exit(EXIT.interrupted);
}
