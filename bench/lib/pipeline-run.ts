/**
 * One generated date (lib/sample-day) through the real pipeline, for the orchestration and memory
 * benches: a Temporal dev server, the embedded PostgreSQL, and the two workers as the product
 * runs them — separate `audio-pipeline worker --queue cpu|gpu` processes — with the tiny.en model.
 * While the date runs, each worker's peak RSS (VmHWM) and current RSS, with its helper processes',
 * are sampled from /proc;
 * afterwards the date's and its archives' workflow histories are read back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import proto, { type temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import { descendantPids } from '../../lib/child-processes.ts';
import { inheritedEnv } from '../../lib/config.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { generateDay, type ClipCycleEntry } from '../../lib/sample-day/generate.ts';
import { startDate } from '../../temporal-client/start-date.ts';
import { makeTempDir, startEmbeddedTestPostgres } from '../../test/support/postgres.ts';
import { createLocalTestEnvironment } from '../../test/support/temporal.ts';
import { migrate } from '../../db/migrate.ts';
import { ROOT } from './report.ts';

export interface PipelineRunOptions {
  date: string;
  archives: number;
  clipsPerArchive: number;
  model?: string;
  archiveConcurrency?: number;
  /**
   * Distinct clips synthesised (generateDay's audioPool); the date's other clips copy their audio
   * under their own ids. Default 40 (five of each kind/language cycle): what the run measures
   * does not depend on the bytes being distinct, and synthesising every clip of a 144-archive
   * date took hours on two shared cores.
   */
  audioPool?: number;
  /** The clips' kinds in turn (generateDay's cycle); default every kind and language. */
  cycle?: readonly ClipCycleEntry[];
  log?: (line: string) => void;
}

/**
 * The clips of a generated date, in turn: `trivial` — one English speech clip in four, the others
 * silence and music, which the VAD hands no window to the model (the heavy stages small, not
 * off: every clip is still extracted, converted, run through the VAD, stored and uploaded; tiny.en
 * is an English model); `all` — the generator's full cycle (English, German, Spanish and French
 * speech, music, silence), ~45 s of transcription per 20-clip archive on this machine.
 */
export const MIXES: Record<'trivial' | 'all', readonly ClipCycleEntry[] | undefined> = {
  trivial: [{ kind: 'speech', language: 'en' }, { kind: 'silence' }, { kind: 'music' }, { kind: 'silence' }],
  all: undefined,
};

export function clipMix(name: string): keyof typeof MIXES {
  if (name !== 'trivial' && name !== 'all') throw new Error(`--mix trivial|all, not ${name}`);
  return name;
}

export interface WorkerMemory {
  /** Peak resident set (VmHWM), MB. */
  peakRssMb: number;
  /** Samples of the resident set (VmRSS) over the run: [seconds since start, MB]. */
  samples: Array<[number, number]>;
}

export interface ActivitySpan {
  workflowId: string;
  type: string;
  /** When the workflow scheduled it, a worker started it, and it completed (server clock). */
  scheduledMs: number;
  startMs: number;
  endMs: number;
}

export interface PipelineRun {
  clips: number;
  generateS: number;
  wallS: number;
  summary: unknown;
  memory: Record<'cpu' | 'gpu', WorkerMemory>;
  /** Events per workflow history (the date's, then each archive's). */
  historyEvents: Record<string, number>;
  largestPayload: { bytes: number; workflowId: string; eventType: string };
  activities: ActivitySpan[];
}

async function waitForPollers(
  client: Client,
  name: string,
  taskQueueType: temporal.api.enums.v1.TaskQueueType,
) {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const r = await client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name },
      taskQueueType,
    });
    if ((r.pollers ?? []).length > 0) return;
    if (Date.now() > deadline) throw new Error(`no worker polls ${name} after 10 minutes`);
    await sleep(500);
  }
}

/**
 * VmHWM and VmRSS of a worker with its helper processes (the audio decoding helper and the
 * encoder's child process: the node processes it started), MB, each summed (0 when it has ended).
 * The ffmpeg processes, one per clip for a moment, are left out.
 */
function workerMemory(pid: number): { hwm: number; rss: number } {
  const own = memoryOf(pid);
  if (own.hwm === 0) return own;
  for (const child of nodeChildren(pid)) {
    const m = memoryOf(child);
    own.hwm += m.hwm;
    own.rss += m.rss;
  }
  return own;
}

/** The node processes below `pid`: its helpers (their own children are ffmpeg). */
function nodeChildren(pid: number): number[] {
  return descendantPids(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node';
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** VmHWM and VmRSS of a process, MB (0 when it has ended). */
function memoryOf(pid: number): { hwm: number; rss: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

const millis = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/** Every payload's data size in an event (walks the decoded proto object). */
function payloadSizes(value: unknown, out: number[] = []): number[] {
  if (value instanceof Uint8Array) return out;
  if (Array.isArray(value)) {
    for (const v of value) payloadSizes(v, out);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.data instanceof Uint8Array && 'metadata' in o) out.push(o.data.length);
    else for (const v of Object.values(o)) payloadSizes(v, out);
  }
  return out;
}

export async function runGeneratedDate(o: PipelineRunOptions): Promise<PipelineRun> {
  const log = o.log ?? (() => undefined);
  const dataDir = await makeTempDir('audio-pipeline-bench-pipeline-');
  const incoming = path.join(dataDir, 'incoming');
  const workers: ChildProcess[] = [];
  const port = await freePort();
  const [env, pg] = await Promise.all([createLocalTestEnvironment({ port }), startEmbeddedTestPostgres()]);
  try {
    await migrate(pg.opened.db);
    const g0 = performance.now();
    await generateDay({
      date: o.date,
      archives: o.archives,
      clipsPerArchive: o.clipsPerArchive,
      outDir: incoming,
      seed: 5,
      audioPool: o.audioPool ?? 40,
      cycle: o.cycle,
    });
    const generateS = (performance.now() - g0) / 1000;
    log(`generated ${o.archives} × ${o.clipsPerArchive} clips in ${generateS.toFixed(0)} s`);

    const settings = {
      DATA_DIR: path.join(dataDir, 'data'),
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      SOURCE: `local:${incoming}`,
      WHISPER_MODEL: o.model ?? 'tiny.en',
      LOG_LEVEL: 'warn',
    };
    const memory = {} as Record<'cpu' | 'gpu', WorkerMemory>;
    for (const queue of ['cpu', 'gpu'] as const) {
      const child = spawn(
        process.execPath,
        [path.join(ROOT, 'bin', 'audio-pipeline.js'), 'worker', '--queue', queue],
        {
          cwd: ROOT,
          env: inheritedEnv(settings),
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      workers.push(child);
      memory[queue] = { peakRssMb: 0, samples: [] };
    }
    // The clock starts when both workers poll (bundling workflows and loading the model are
    // start-up, not orchestration).
    await waitForPollers(
      env.client,
      'audio-pipeline',
      proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    );
    await waitForPollers(
      env.client,
      'audio-pipeline-gpu',
      proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    );
    log('workers polling');
    const t0 = performance.now();
    const handle = await startDate(
      env.client,
      { date: o.date, archiveConcurrency: o.archiveConcurrency, gpuTaskQueue: 'audio-pipeline-gpu' },
      'audio-pipeline',
    );
    let done = false;
    const sampling = (async () => {
      while (!done) {
        workers.forEach((w, i) => {
          const m = workerMemory(w.pid!);
          const entry = memory[i === 0 ? 'cpu' : 'gpu'];
          if (m.hwm > 0) {
            entry.peakRssMb = Math.max(entry.peakRssMb, m.hwm);
            entry.samples.push([Math.round((performance.now() - t0) / 100) / 10, Math.round(m.rss)]);
          }
        });
        await sleep(1000);
      }
    })();
    const summary = await handle.result();
    const wallS = (performance.now() - t0) / 1000;
    done = true;
    await sampling;
    log(`date done in ${wallS.toFixed(1)} s`);

    const { historyEvents, activities, largestPayload } = await readHistories(env.client, handle.workflowId);
    return {
      clips: o.archives * o.clipsPerArchive,
      generateS,
      wallS,
      summary,
      memory,
      historyEvents,
      largestPayload,
      activities,
    };
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(
      workers.map((w) =>
        w.exitCode !== null
          ? undefined
          : Promise.race([new Promise((r) => w.once('exit', r)), sleep(60_000)]),
      ),
    );
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await env.teardown().catch(() => {});
    await pg.close().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export interface DateHistories {
  /** Events per workflow history (the date's, then each archive's). */
  historyEvents: Record<string, number>;
  largestPayload: { bytes: number; workflowId: string; eventType: string };
  /** Every completed activity of those histories. */
  activities: ActivitySpan[];
}

/** The date workflow's history and those of every child workflow it started, measured. */
export async function readHistories(client: Client, dateWorkflowId: string): Promise<DateHistories> {
  const historyEvents: Record<string, number> = {};
  const activities: ActivitySpan[] = [];
  let largestPayload = { bytes: 0, workflowId: '', eventType: '' };
  const pending = [dateWorkflowId];
  while (pending.length) {
    const workflowId = pending.shift()!;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    historyEvents[workflowId] = events.length;
    const started = new Map<string, number>();
    const scheduled = new Map<string, { type: string; at: number }>();
    for (const e of events) {
      const type = proto.temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
      for (const bytes of payloadSizes(e)) {
        if (bytes > largestPayload.bytes) largestPayload = { bytes, workflowId, eventType: type };
      }
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) pending.push(child);
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', at: millis(e.eventTime) });
      const st = e.activityTaskStartedEventAttributes;
      if (st) started.set(String(st.scheduledEventId), millis(e.eventTime));
      const c = e.activityTaskCompletedEventAttributes;
      if (c) {
        const id = String(c.scheduledEventId);
        activities.push({
          workflowId,
          type: scheduled.get(id)?.type ?? '?',
          scheduledMs: scheduled.get(id)?.at ?? millis(e.eventTime),
          startMs: started.get(id) ?? millis(e.eventTime),
          endMs: millis(e.eventTime),
        });
      }
    }
  }
  return { historyEvents, activities, largestPayload };
}

/** Milliseconds of `spans` covered by at least one span (their union). */
export function coveredMs(spans: ReadonlyArray<{ startMs: number; endMs: number }>): number {
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs);
  let total = 0;
  let end = -Infinity;
  for (const s of sorted) {
    if (s.startMs > end) {
      total += s.endMs - s.startMs;
      end = s.endMs;
    } else if (s.endMs > end) {
      total += s.endMs - end;
      end = s.endMs;
    }
  }
  return total;
}
