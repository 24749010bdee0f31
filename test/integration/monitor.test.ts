/**
 * `audio-pipeline serve` on the database of a real `run` (two archives, one truncated): the HTTP
 * API against what the run stored, retry through a real Temporal dev server, and the dashboard in
 * Debian's chromium (playwright-core) — the date listed, progress at 100%, a spoken word found
 * and its audio playable. The dashboard's screenshot is saved as docs/dashboard.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chromium } from 'playwright-core';
import { generateDay, type ClipTruth, type Truth } from '../../lib/sample-day/generate.ts';
import { storagePath } from '../../lib/storage/local.ts';
import { dateWorkflowId } from '../../workflows/contract.ts';
import { localEnv, runDateLocally, startCli, type CliResult, type Service } from '../support/cli.ts';
import { makeTempDir } from '../support/postgres.ts';
import { createLocalTestEnvironment } from '../support/temporal.ts';

const DATE = '2024-05-06';
const OK_ARCHIVE = `${DATE}_00-00`;
const BAD_ARCHIVE = `${DATE}_00-10`;
const TOKEN = 'monitor-test-token-0123456789';
/** The test's screenshot goes to a temp file; UPDATE_SCREENSHOTS=1 writes docs/dashboard.png. */
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url))
    : path.join(os.tmpdir(), `audio-pipeline-dashboard-${process.pid}.png`);
const READY = /Dashboard: (http:\/\/\S+)/;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked by the assertions
type Body = any;
const bodyOf = (response: Response): Promise<Body> => response.json();

/** What the test reads of the page's <audio> element (no DOM types in this project's tsconfig). */
interface AudioElement {
  play(): Promise<void>;
  duration: number;
  currentTime: number;
  error: { message: string } | null;
}

describe('audio-pipeline serve', { timeout: 15 * 60_000 }, () => {
  let dataDir: string;
  let truth: Truth;
  let run: CliResult;
  let temporal: TestWorkflowEnvironment;
  /** With MONITOR_TOKEN and a Temporal server. */
  let serve: Service;
  /** With MONITOR_TOKEN, without Temporal: workflow state unknown, retry 503. */
  let bare: Service;
  let env: NodeJS.ProcessEnv;
  let base: string;
  let speech: ClipTruth;
  let word: string;

  const get = (url: string, init?: RequestInit) => fetch(new URL(url, base), init);
  const json = async (url: string) => {
    const response = await get(url);
    assert.equal(response.status, 200, `${url}: ${response.status}`);
    return bodyOf(response);
  };

  before(async () => {
    dataDir = await makeTempDir('audio-pipeline-monitor-');
    const incoming = path.join(dataDir, 'incoming');
    truth = (
      await generateDay({
        date: DATE,
        archives: 2,
        clipsPerArchive: 3,
        outDir: incoming,
        seed: 5,
        defects: { truncatedArchive: true },
      })
    ).truth;
    env = localEnv(dataDir, incoming);
    run = await runDateLocally(env, DATE);
    assert.equal(run.code, 3, run.stderr);
    temporal = await createLocalTestEnvironment();
    serve = await startCli(
      { ...env, TEMPORAL_ADDRESS: temporal.address, MONITOR_TOKEN: TOKEN },
      ['serve', '--port', '0'],
      READY,
    );
    base = serve.match[1]!;
    // Nothing listens on port 1: Temporal is unreachable for this one.
    bare = await startCli(
      { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1', MONITOR_TOKEN: TOKEN },
      ['serve', '--port', '0'],
      READY,
    );
    speech = Object.values(truth.clips).find((c) => c.kind === 'speech' && c.archive === OK_ARCHIVE)!;
    word = speech.sentence!.split(/\W+/).sort((a, b) => b.length - a.length)[0]!;
  });

  after(async () => {
    // The second server reuses the first one's embedded PostgreSQL: it stops first.
    await bare?.stop();
    await serve?.stop();
    await temporal?.teardown();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serve listens on 127.0.0.1 and reports the database and Temporal in /health', async () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const health = await json('/health');
    assert.deepEqual(health.database, { ok: true });
    assert.equal(health.temporal.reachable, true);
    const bareHealth = await bodyOf(await fetch(new URL('/health', bare.match[1])));
    assert.equal(bareHealth.status, 'ok');
    assert.equal(bareHealth.temporal.reachable, false);
    assert.match(bareHealth.temporal.reason, /127\.0\.0\.1:1/);
  });

  test('/api/status counts what the run stored, its throughput and its failures with reasons', async () => {
    const okClips = Object.values(truth.clips).filter((c) => c.archive === OK_ARCHIVE && c.expect === 'ok');
    const status = await json('/api/status');
    assert.equal(status.clips.uploaded, okClips.length);
    assert.equal(status.archives.completed, 1);
    assert.equal(status.archives.failed, 1);
    assert.deepEqual(
      status.dates.map((d: { date: string; status: string }) => [d.date, d.status]),
      [[DATE, 'completed_with_errors']],
    );
    assert.equal(status.throughput.per_minute.length, 60);
    assert.equal(status.throughput.last_hour, okClips.length);
    const failure = status.failures.find((f: { archive: string }) => f.archive === BAD_ARCHIVE);
    assert.ok(failure, JSON.stringify(status.failures));
    assert.match(failure.error, /truncated|unexpected end|corrupt/i);
    assert.equal(typeof status.backlog['audio-pipeline'].workflow, 'number');
  });

  test('/api/dates/:date has every archive with progress and error, and the workflow state', async () => {
    const date = await json(`/api/dates/${DATE}`);
    assert.equal(date.status, 'completed_with_errors');
    const archives = Object.fromEntries(date.archives.map((a: { archive: string }) => [a.archive, a]));
    assert.equal(archives[OK_ARCHIVE].status, 'completed');
    assert.equal(archives[OK_ARCHIVE].progress, 1);
    assert.equal(archives[OK_ARCHIVE].files_done, archives[OK_ARCHIVE].files_total);
    assert.equal(archives[BAD_ARCHIVE].status, 'failed');
    assert.ok(archives[BAD_ARCHIVE].error);
    // This Temporal server never saw the run (its own dev server stopped with it).
    assert.deepEqual(date.workflow, { id: dateWorkflowId(DATE), state: 'NOT_STARTED' });
    const unknown = await bodyOf(await fetch(new URL(`/api/dates/${DATE}`, bare.match[1])));
    assert.equal(unknown.workflow.state, 'unknown');
    const unseen = await json('/api/dates/2023-01-01');
    assert.equal(unseen.status, 'pending');
    assert.deepEqual(unseen.archives, []);
  });

  test('/api/queue filters by status and limits', async () => {
    const failed = await json('/api/queue?status=failed');
    assert.deepEqual(
      failed.rows.map((r: { archive: string }) => r.archive),
      [BAD_ARCHIVE],
    );
    const one = await json('/api/queue?limit=1');
    assert.equal(one.rows.length, 1);
    const all = await json('/api/queue');
    assert.equal(all.rows.length, 3, 'the date row and two archive rows');
  });

  test('/api/search finds a spoken word, highlighted, with the clip and its audio URL', async () => {
    const result = await json(`/api/search?q=${encodeURIComponent(word)}&date=${DATE}`);
    const hit = result.hits.find((h: { id: string }) => h.id === speech.id);
    assert.ok(hit, `"${word}" → ${JSON.stringify(result.hits)}`);
    assert.equal(result.exact, true, 'a small date: every match ranked');
    const marked = hit.parts.filter((p: { hit: boolean }) => p.hit).map((p: { text: string }) => p.text);
    assert.ok(
      marked.some((t: string) => t.toLowerCase() === word.toLowerCase()),
      JSON.stringify(hit.parts),
    );
    assert.match(hit.snippet, new RegExp(`«${word}»`, 'i'));
    assert.equal(hit.audio_url, `/api/clips/${speech.id}/audio`);
    const other = await json(`/api/search?q=${encodeURIComponent(word)}&date=2023-01-01`);
    assert.deepEqual(other.hits, []);
  });

  test('/api/clips/:id has metadata and a timed transcript; unknown ids are 404', async () => {
    const clip = await json(`/api/clips/${speech.id}`);
    assert.equal(clip.id, speech.id);
    assert.equal(clip.date, DATE);
    assert.equal(clip.status, 'uploaded');
    assert.equal(clip.has_metadata, true);
    assert.match(clip.text, new RegExp(word, 'i'));
    assert.ok(clip.segments.length > 0);
    assert.ok(clip.segments.every((s: { start: number; end: number }) => s.end > s.start));
    assert.equal((await get('/api/clips/no-such-clip')).status, 404);
  });

  test('/api/clips/:id/audio streams the Opus file with range support', async () => {
    const file = storagePath(path.join(dataDir, 'storage'), DATE, speech.id);
    const bytes = await readFile(file);
    const whole = await get(`/api/clips/${speech.id}/audio`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-type'), 'audio/ogg');
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);
    const part = await get(`/api/clips/${speech.id}/audio`, { headers: { Range: 'bytes=4-103' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 4-103/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(4, 104));
    const tail = await get(`/api/clips/${speech.id}/audio`, { headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    const beyond = await get(`/api/clips/${speech.id}/audio`, {
      headers: { Range: `bytes=${bytes.length}-` },
    });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${bytes.length}`);
  });

  test('bad input is a 400 that names the parameter and the reason', async () => {
    const cases: [string, RegExp][] = [
      [`/api/search?q=${'a'.repeat(501)}`, /q: .*500/],
      ['/api/search?q=x%00y', /NUL/],
      ['/api/search?q=x&limit=0', /limit/],
      ['/api/search?q=x&limit=abc', /limit/],
      ['/api/search?q=x&date=2024-02-30', /date: expected a calendar date/],
      ['/api/search?q=x&language=english', /language/],
      ['/api/search?q=x&bogus=1', /bogus/],
      ['/api/search', /q:/],
      ['/api/queue?status=done', /status/],
      ['/api/dates/yesterday', /date: expected a calendar date/],
      ['/api/clips/..%2Fetc/audio', /clip id/],
      ['/api/clips/a.b', /clip id/],
    ];
    for (const [url, reason] of cases) {
      const response = await get(url);
      assert.equal(response.status, 400, url);
      assert.match((await bodyOf(response)).error, reason, url);
    }
  });

  test('retry needs the Bearer token, is disabled without one, and starts the date workflow', async () => {
    const url = `/api/dates/${DATE}/retry`;
    const tokenless = await startCli(env, ['serve', '--port', '0'], READY);
    try {
      const disabled = await fetch(new URL(url, tokenless.match[1]), { method: 'POST' });
      assert.equal(disabled.status, 403);
      assert.match((await bodyOf(disabled)).error, /MONITOR_TOKEN/);
    } finally {
      await tokenless.stop();
    }
    assert.equal((await get(url, { method: 'POST' })).status, 401);
    const wrong = await get(url, { method: 'POST', headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const unreachable = await fetch(new URL(url, bare.match[1]), { method: 'POST', headers: auth });
    assert.equal(unreachable.status, 503);
    assert.match((await bodyOf(unreachable)).error, /Temporal is unreachable: 127\.0\.0\.1:1/);
    assert.equal((await get('/api/dates/2024-13-01/retry', { method: 'POST', headers: auth })).status, 400);
    const started = await get(url, { method: 'POST', headers: auth });
    assert.equal(started.status, 202);
    const body = await bodyOf(started);
    assert.equal(body.workflowId, dateWorkflowId(DATE));
    // A second retry while it runs attaches to the same run (USE_EXISTING), not a second one.
    const again = await bodyOf(await get(url, { method: 'POST', headers: auth }));
    assert.equal(again.runId, body.runId);
    const described = await temporal.client.workflow.getHandle(dateWorkflowId(DATE)).describe();
    assert.equal(described.runId, body.runId);
    assert.equal((await json(`/api/dates/${DATE}`)).workflow.state, 'RUNNING');
    await temporal.client.workflow.getHandle(dateWorkflowId(DATE)).terminate('test over');
  });

  test('/metrics exports clips, failures, archives, durations and backlog for Prometheus', async () => {
    const response = await get('/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const uploaded = Object.values(truth.clips).filter((c) => c.archive === OK_ARCHIVE && c.expect === 'ok');
    assert.match(text, new RegExp(`^audio_pipeline_clips\\{status="uploaded"\\} ${uploaded.length}$`, 'm'));
    assert.match(text, /^audio_pipeline_archives\{status="failed"\} 1$/m);
    assert.match(text, /^audio_pipeline_archive_duration_seconds_count 2$/m);
    assert.match(
      text,
      /^audio_pipeline_task_queue_backlog\{task_queue="audio-pipeline",kind="workflow"\} \d+$/m,
    );
  });

  test('the dashboard in chromium: the date, progress at 100%, search, and a playing clip', async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(base);
      const dateBox = page.locator(`.date[data-date="${DATE}"]`);
      await dateBox.waitFor();
      const bar = page.locator(`[data-archive="${OK_ARCHIVE}"] [role=progressbar][aria-valuenow="100"]`);
      await bar.waitFor();
      // Drawn full, not only labelled so.
      const filled = await bar.evaluate((b) => {
        const box = b as unknown as { offsetWidth: number; firstElementChild: { offsetWidth: number } };
        return box.firstElementChild.offsetWidth / box.offsetWidth;
      });
      assert.ok(filled > 0.95, `progress bar drawn at ${filled}`);
      assert.match(await dateBox.innerText(), /completed with errors/);
      assert.match(
        await page.locator('#failures').innerText(),
        new RegExp(BAD_ARCHIVE.replace(/[-_]/g, '.')),
      );
      await page.fill('#search-q', word);
      await page.click('#search-form button');
      const hit = page.locator(`li.hit[data-clip="${speech.id}"]`);
      await hit.waitFor();
      assert.equal((await hit.locator('mark').first().innerText()).toLowerCase(), word.toLowerCase());
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const played = await hit.locator('audio').evaluate(async (element) => {
        const audio = element as unknown as AudioElement;
        await audio.play();
        await new Promise((resolve) => setTimeout(resolve, 500));
        return { duration: audio.duration, currentTime: audio.currentTime, error: audio.error?.message };
      });
      assert.equal(played.error, undefined);
      assert.ok(Number.isFinite(played.duration) && played.duration > 0.5, JSON.stringify(played));
      assert.ok(played.currentTime > 0, JSON.stringify(played));
      // The clip page: its metadata and timed transcript.
      await hit.locator('a').click();
      await page.locator('#clip .segments tr').first().waitFor();
      assert.match(await page.locator('#clip').innerText(), new RegExp(word, 'i'));
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
    assert.ok((await stat(SCREENSHOT)).size > 10_000);
    if (process.env.UPDATE_SCREENSHOTS !== '1') await rm(SCREENSHOT, { force: true });
  });

  test('serve stops on SIGTERM with exit 0, and the embedded PostgreSQL it started stops with it', async () => {
    // The second server only reused the database: it leaves it running for the first.
    assert.equal(await bare.stop(), 0, bare.stderr());
    assert.equal((await get('/health')).status, 200);
    assert.equal(await serve.stop(), 0, serve.stderr());
    const pid = path.join(dataDir, 'pg', 'cluster', 'postmaster.pid');
    await assert.rejects(stat(pid), { code: 'ENOENT' }, 'PostgreSQL still running');
  });
});
