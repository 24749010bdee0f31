/**
 * Orchestration overhead of the production Temporal server (deploy/temporal/: PostgreSQL
 * persistence and SQL visibility on PostgreSQL 15) beside the dev server (`temporal server
 * start-dev`, SQLite), for one small generated date run by the same in-process workers.
 *
 *   node --import tsx bench/temporal-server-overhead.ts [--archives 3] [--clips 3] [--servers dev,server]
 *
 * Per server: wall time of the date; total activity time (started → closed, summed over every
 * activity of the date and its archives); activity dispatch latency (scheduled → started, summed:
 * time an activity waited for the server to hand it to a polling worker); workflow-task time
 * (scheduled → completed, summed); history events of the date and per archive. tiny.en on the
 * CPU, CONVERT_CONCURRENCY=1, ARCHIVE_CONCURRENCY=1 so that the date is a sequence of archives.
 * PostgreSQL 15: TEST_PG15_URL, or a throwaway cluster (test/support/postgres.ts).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { migrate } from '../db/migrate.ts';
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { generateDay } from '../lib/sample-day/generate.ts';
import { startTemporalDevServer } from '../local/temporal-dev-server.ts';
import { startDate } from '../temporal-client/start-date.ts';
import { createCpuWorker } from '../workers/cpu-worker.ts';
import { createGpuWorker } from '../workers/gpu-worker.ts';
import { archiveWorkflowId } from '../workflows/contract.ts';
import { freePorts } from '../test/support/ports.ts';
import { makeTempDir, startEmbeddedTestPostgres, startPostgres15Cluster } from '../test/support/postgres.ts';
import { startRealTemporalServer } from '../test/support/temporal-server.ts';
import { MODEL_CACHE } from '../test/support/whisper-models.ts';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const { values } = parseArgs({
  options: {
    archives: { type: 'string', default: '3' },
    clips: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'dev,server' },
  },
});
const ARCHIVES = Number(values.archives);
const CLIPS = Number(values.clips);

const ms = (t: HistoryEvent['eventTime']) =>
  Number(t?.seconds ?? 0) * 1000 + Math.round((t?.nanos ?? 0) / 1e6);

/** Activity and workflow-task times of one history. */
function timings(events: HistoryEvent[]) {
  const at = new Map(events.map((e) => [Number(e.eventId), ms(e.eventTime)]));
  let activityMs = 0;
  let dispatchMs = 0;
  let workflowTaskMs = 0;
  for (const e of events) {
    const closed =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    if (closed) {
      const started = at.get(Number(closed.startedEventId))!;
      const scheduled = at.get(Number(closed.scheduledEventId))!;
      activityMs += ms(e.eventTime) - started;
      dispatchMs += started - scheduled;
    }
    const wft = e.workflowTaskCompletedEventAttributes;
    if (wft) workflowTaskMs += ms(e.eventTime) - at.get(Number(wft.scheduledEventId))!;
  }
  return { activityMs, dispatchMs, workflowTaskMs };
}

async function runOn(
  kind: 'dev' | 'server',
  date: string,
  workDir: string,
  pgServerUrl: () => Promise<string>,
) {
  const dataDir = path.join(workDir, kind);
  const incoming = path.join(dataDir, 'incoming');
  await generateDay({ date, archives: ARCHIVES, clipsPerArchive: CLIPS, outDir: incoming, seed: 21 });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    let address: string;
    if (kind === 'dev') {
      const [port, uiPort] = await freePorts(2);
      const dev = await startTemporalDevServer({ dataDir, port, uiPort, namespace: 'default' });
      stops.push(() => dev.stop());
      address = dev.address;
    } else {
      const server = await startRealTemporalServer({
        serverUrl: await pgServerUrl(),
        dataDir,
        namespace: 'default',
      });
      stops.push(() => server.close());
      address = server.address;
    }
    const pg = await startEmbeddedTestPostgres();
    stops.push(() => pg.close());
    await migrate(pg.opened.db);
    const config = loadConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: address,
      SOURCE: `local:${incoming}`,
      UPLOAD: 'off',
      WHISPER_MODEL: 'tiny.en',
      WHISPER_MODEL_CACHE: MODEL_CACHE,
      WHISPER_THREADS: '1',
      CONVERT_CONCURRENCY: '1',
      LOG_LEVEL: 'warn',
    });
    const logger = createLogger('bench', 'warn');
    const nativeConnection = await NativeConnection.connect({ address });
    stops.push(() => nativeConnection.close());
    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    const client = new Client({ connection });
    const cpu = await createCpuWorker({ config, logger, db: pg.opened.db, connection: nativeConnection });
    const gpu = await createGpuWorker({ config, logger, connection: nativeConnection });
    const workers: Worker[] = [cpu, gpu.worker];
    const running = workers.map((w) => w.run());
    stops.push(async () => {
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
      await gpu.close();
    });
    const started = Date.now();
    const handle = await startDate(
      client,
      { date, archiveConcurrency: 1, gpuTaskQueue: config.temporal.gpuTaskQueue },
      config.temporal.taskQueue,
    );
    const summary = await handle.result();
    const wallMs = Date.now() - started;
    const dateEvents = (await handle.fetchHistory()).events ?? [];
    const archiveHistories = await Promise.all(
      summary.archives.map((a) => client.workflow.getHandle(archiveWorkflowId(a.archive)).fetchHistory()),
    );
    const all = [dateEvents, ...archiveHistories.map((h) => h.events ?? [])];
    const sum = all.map(timings).reduce((a, b) => ({
      activityMs: a.activityMs + b.activityMs,
      dispatchMs: a.dispatchMs + b.dispatchMs,
      workflowTaskMs: a.workflowTaskMs + b.workflowTaskMs,
    }));
    const archiveEvents = archiveHistories.map((h) => (h.events ?? []).length);
    return {
      server: kind,
      status: summary.status,
      archives: archiveHistories.length,
      wallS: wallMs / 1000,
      activityS: sum.activityMs / 1000,
      dispatchS: sum.dispatchMs / 1000,
      workflowTaskS: sum.workflowTaskMs / 1000,
      dateEvents: dateEvents.length,
      eventsPerArchive: archiveEvents.reduce((a, b) => a + b, 0) / Math.max(1, archiveEvents.length),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(err));
  }
}

const workDir = await makeTempDir('audio-pipeline-bench-temporal-');
let cluster: Awaited<ReturnType<typeof startPostgres15Cluster>> | undefined;
const pgServerUrl = async () => {
  if (process.env.TEST_PG15_URL) return process.env.TEST_PG15_URL;
  cluster ??= await startPostgres15Cluster();
  return cluster.serverUrl;
};
try {
  const results = [];
  for (const [i, kind] of (values.servers!.split(',') as ('dev' | 'server')[]).entries()) {
    results.push(await runOn(kind, `2024-11-0${i + 1}`, workDir, pgServerUrl));
  }
  console.table(results);
  console.log(JSON.stringify(results));
} finally {
  await cluster?.close();
  await rm(workDir, { recursive: true, force: true });
}
