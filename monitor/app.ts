/**
 * The monitor's HTTP API and dashboard (`audio-pipeline serve`). Reads PostgreSQL (every query
 * parameterised, in db/queries/) and, when it answers, Temporal. Input is checked by zod before
 * it reaches a query; a bad value is a 400 naming the parameter and the reason.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/queries/database.ts';
import { countsByStatus } from '../db/queries/clip-counts.ts';
import { listDates } from '../db/queries/list-dates.ts';
import {
  archiveCountsByStatus,
  clipDetail,
  clipFileInfo,
  listQueue,
  recentFailures,
  throughput,
} from '../db/queries/monitor.ts';
import { dateStatus } from '../db/queries/queue.ts';
import { MAX_QUERY_CHARS, searchTranscriptsRanked } from '../db/queries/search-transcripts.ts';
import { isCalendarDate } from '../lib/archive/dates.ts';
import { isSafeClipId } from '../lib/clip-id.ts';
import { BadInputError, errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { QUEUE_STATUSES } from '../lib/statuses.ts';
import { storagePath } from '../lib/storage/local.ts';
import { dateWorkflowId } from '../workflows/contract.ts';
import { fileResponse } from './file-response.ts';
import type { Metrics } from './metrics.ts';
import { staticAsset } from './static-assets.ts';
import type { TemporalView } from './temporal.ts';

/**
 * POST /api/dates/:date/retry: temporal-client/retry-date.ts (what `audio-pipeline retry` does),
 * behind a type so the routes do not depend on how a retry is made.
 */
export type RetryDate = (client: Client, date: string) => Promise<{ workflowId: string; runId: string }>;

export interface MonitorDeps {
  db: Db;
  temporal: TemporalView;
  metrics: Metrics;
  retry: RetryDate;
  /** MONITOR_TOKEN; undefined disables the actions. */
  token?: string;
  /** Where uploaded Opus files are (STORAGE_TARGET), and staging (files kept there with UPLOAD=off). */
  storageRoot: string;
  stagingDir: string;
  logger: Pick<Logger, 'error'>;
}

/** Marks around matched words; private-use characters, which no transcript holds. */
const MARK_START = '\uE000';
const MARK_STOP = '\uE001';

const calendarDate = z.string().refine(isCalendarDate, 'expected a calendar date YYYY-MM-DD');
const clipId = z.string().refine(isSafeClipId, 'expected a clip id (letters, digits, _ and -)');
const intParam = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const searchParams = z.strictObject({
  q: z.string().max(MAX_QUERY_CHARS),
  language: z
    .string()
    .regex(/^[a-z]{2,3}$/, 'expected a language code such as en')
    .optional(),
  date: calendarDate.optional(),
  limit: intParam(1, 100, 20),
  offset: intParam(0, 10_000, 0),
});
const queueParams = z.strictObject({
  status: z.enum(QUEUE_STATUSES).optional(),
  limit: intParam(1, 1000, 100),
});

/** A zod failure as one readable line: `limit: Too big: expected number to be <=100`. */
function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const reasons = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : what}: ${i.message}`);
  throw new BadInputError(reasons.join('; '));
}

export function createMonitorApp(deps: MonitorDeps): Hono {
  const { db, temporal } = deps;
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof BadInputError) return c.json({ error: err.message }, 400);
    deps.logger.error({ err, path: c.req.path }, 'monitor request failed');
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: `no such page: ${c.req.path}` }, 404));
  app.use(async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
  });

  app.get('/health', async (c) => {
    const database = await db
      .execute(sql`SELECT 1`)
      .then(() => ({ ok: true as const }))
      .catch((err: unknown) => ({ ok: false as const, error: errorMessage(err) }));
    const t = await temporal.reachability();
    return c.json(
      { status: database.ok ? 'ok' : 'unavailable', database, temporal: t },
      database.ok ? 200 : 503,
    );
  });

  app.get('/api/status', async (c) => {
    const [clips, archives, dates, perMinute, failures, backlog] = await Promise.all([
      countsByStatus(db, undefined),
      archiveCountsByStatus(db),
      listDates(db, 100),
      throughput(db, 60),
      recentFailures(db, 50),
      temporal.backlog(),
    ]);
    return c.json({
      clips,
      archives,
      dates,
      throughput: { last_hour: perMinute.reduce((n, p) => n + p.clips, 0), per_minute: perMinute },
      backlog: backlog ?? 'unknown',
      failures,
    });
  });

  app.get('/api/queue', async (c) => {
    const params = parsed(queueParams, c.req.query(), 'query');
    return c.json({ rows: await listQueue(db, params) });
  });

  app.get('/api/dates/:date', async (c) => {
    const date = parsed(calendarDate, c.req.param('date'), 'date');
    const [status, clips, workflow] = await Promise.all([
      dateStatus(db, date),
      countsByStatus(db, date),
      temporal.workflowState(dateWorkflowId(date)),
    ]);
    const known = status ?? { date, status: 'pending' as const, archives: [] };
    return c.json({
      ...known,
      archives: known.archives.map((a) => ({ ...a, progress: archiveProgress(a) })),
      clips,
      workflow: { id: dateWorkflowId(date), state: workflow },
    });
  });

  app.get('/api/search', async (c) => {
    const { q, ...options } = parsed(searchParams, c.req.query(), 'query');
    const { hits, exact } = await searchTranscriptsRanked(db, q, {
      ...options,
      highlight: { start: MARK_START, stop: MARK_STOP },
    });
    return c.json({
      query: q,
      // false: too many matches to rank them all, so these are the best of a bounded candidate
      // set (db/queries/search-transcripts.ts); true: no other match ranks higher.
      exact,
      hits: hits.map((h) => ({
        ...h,
        snippet: h.snippet.replaceAll(MARK_START, '«').replaceAll(MARK_STOP, '»'),
        parts: snippetParts(h.snippet),
        audio_url: audioUrl(h.id),
      })),
    });
  });

  app.get('/api/clips/:id', async (c) => {
    const id = parsed(clipId, c.req.param('id'), 'clip id');
    const clip = await clipDetail(db, id);
    if (!clip) return c.json({ error: `no clip ${id}` }, 404);
    return c.json({ ...clip, audio_url: audioUrl(id) });
  });

  app.get('/api/clips/:id/audio', async (c) => {
    const id = parsed(clipId, c.req.param('id'), 'clip id');
    const info = await clipFileInfo(db, id);
    const file = info && (await opusFile(deps, id, info));
    if (!file) return c.json({ error: `no audio file for clip ${id}` }, 404);
    return fileResponse(file, c.req.header('range'), 'audio/ogg');
  });

  app.post('/api/dates/:date/retry', async (c) => {
    const refused = authorize(c, deps.token);
    if (refused) return refused;
    const date = parsed(calendarDate, c.req.param('date'), 'date');
    let started;
    try {
      started = await temporal.act((client) => deps.retry(client, date));
    } catch (err) {
      return c.json({ error: `Temporal refused the retry: ${errorMessage(err)}` }, 503);
    }
    if (!started) {
      const t = await temporal.reachability();
      return c.json({ error: `Temporal is unreachable: ${t.reachable ? 'connection lost' : t.reason}` }, 503);
    }
    return c.json(started.result, 202);
  });

  app.get('/metrics', async (c) => {
    return c.body(await deps.metrics.render(), 200, { 'Content-Type': deps.metrics.contentType });
  });

  app.get('/', (c) => assetResponse(c, 'index.html'));
  app.get('/assets/:name', (c) => assetResponse(c, c.req.param('name')));
  return app;
}

/** Share of an archive's clips that reached an end (done or failed); a finished archive is 1. */
function archiveProgress(a: {
  status: string;
  files_total: number;
  files_done: number;
  files_failed: number;
}) {
  if (a.status === 'completed' || a.status === 'completed_with_errors' || a.status === 'failed') return 1;
  if (a.files_total === 0) return 0;
  return Math.min(1, (a.files_done + a.files_failed) / a.files_total);
}

/** A ts_headline excerpt as text runs, `hit` on the matched words: the page never parses HTML from data. */
function snippetParts(snippet: string): { text: string; hit: boolean }[] {
  const parts: { text: string; hit: boolean }[] = [];
  for (const [i, piece] of snippet.split(new RegExp(`[${MARK_START}${MARK_STOP}]`)).entries()) {
    if (piece) parts.push({ text: piece, hit: i % 2 === 1 });
  }
  return parts;
}

const audioUrl = (id: string) => `/api/clips/${encodeURIComponent(id)}/audio`;

/** The uploaded file (STORAGE_TARGET/YYYY/MM/DD/<id>.opus), else the staging copy (UPLOAD=off). */
async function opusFile(
  deps: Pick<MonitorDeps, 'storageRoot' | 'stagingDir'>,
  id: string,
  info: { date: string; opus_path: string | null },
): Promise<string | null> {
  const candidates = [storagePath(deps.storageRoot, info.date, id)];
  // Only a path under staging: the column is data, not a licence to read any file.
  const staging = path.resolve(deps.stagingDir) + path.sep;
  if (info.opus_path && path.resolve(info.opus_path).startsWith(staging)) candidates.push(info.opus_path);
  for (const file of candidates) {
    const found = await stat(file).catch(() => null);
    if (found?.isFile()) return file;
  }
  return null;
}

/** undefined when the request carries the token; else the answer to send. */
function authorize(c: Context, token: string | undefined): Response | undefined {
  if (!token) return c.json({ error: 'actions are disabled: start serve with MONITOR_TOKEN set' }, 403);
  const given = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
  // Digests of equal length, so the comparison's time tells nothing about the token's length either.
  const digest = (value: string) => createHash('sha256').update(value).digest();
  if (timingSafeEqual(digest(given), digest(token))) return undefined;
  c.header('WWW-Authenticate', 'Bearer');
  return c.json({ error: 'a valid Authorization: Bearer token is required' }, 401);
}

async function assetResponse(c: Context, name: string): Promise<Response> {
  const asset = await staticAsset(name);
  if (!asset) return c.json({ error: `no such asset: ${name}` }, 404);
  c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:");
  c.header('Cache-Control', 'no-cache');
  return c.body(asset.body, 200, { 'Content-Type': asset.contentType });
}
