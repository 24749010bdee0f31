import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../lib/log.ts';

let installed = false;

/**
 * SDK warnings that describe how this project works on purpose: the GPU worker registers
 * activities only (workflows run on the CPU queue), so it never polls for workflow tasks.
 */
const EXPECTED_WARNINGS = new Set(['No workflows registered, not polling for workflow tasks']);

/**
 * Installs the Temporal SDK's runtime without its signal handlers, and routes the SDK's own log
 * lines (worker state changes, poll errors) into our pino logger, at WARN unless LOG_LEVEL asks
 * for more, so that CLI output stays readable. Takes
 * effect only before the SDK's runtime exists (the first connection creates it): callers run it
 * first thing; where something else created the runtime already (a test environment), its
 * logging stays as it is.
 */
export function installTemporalLogging(logger: Logger, opts: { metricsAddress?: string } = {}): void {
  if (installed) return;
  installed = true;
  const level: LogLevel = logger.isLevelEnabled('debug') ? 'DEBUG' : 'WARN';
  if (runtimeExists()) return;
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const fields = { ...entry.meta, sdk: 'temporal' };
      if (EXPECTED_WARNINGS.has(entry.message)) logger.debug(fields, entry.message);
      else if (entry.level === 'ERROR') logger.error(fields, entry.message);
      else if (entry.level === 'WARN') logger.warn(fields, entry.message);
      else logger.debug(fields, entry.message);
    }),
    // The CLI owns SIGINT/SIGTERM: it stops workers before their connection and the servers
    // after them (cli/signals.ts). The SDK's own handlers would shut workers down behind its back.
    shutdownSignals: [],
    telemetryOptions: {
      // The SDK's own Prometheus exporter: per activity type (= pipeline stage) schedule-to-start
      // and execution latencies, task slots, poll counts, and the engine's batch sizes
      // (activities/transcribe.ts). Each worker serves its own; the monitor's /metrics holds
      // what every worker writes to PostgreSQL (docs/operations.md).
      ...(opts.metricsAddress
        ? { metrics: { prometheus: { bindAddress: opts.metricsAddress, useSecondsForDurations: true } } }
        : {}),
      logging: {
        filter: makeTelemetryFilterString({ core: level === 'DEBUG' ? 'DEBUG' : 'WARN' }),
        // Core's own lines (Rust) come through the logger above, to stderr, instead of being
        // printed raw on stdout into the middle of `run`'s progress and summary.
        forward: {},
      },
    },
  });
}

function runtimeExists(): boolean {
  // Runtime.instance() would create one; `_instance` tells whether it exists without doing so.
  return Runtime._instance !== undefined;
}
