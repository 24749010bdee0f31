/**
 * orchestration — what Temporal costs around the work: a date of 144 archives × 20 tiny clips
 * (--quick: 6 archives; --archives N) through the real pipeline with the tiny.en model (the heavy
 * stages made small by their inputs, not switched off), workers as separate processes
 * (bench/lib/pipeline-run.ts). From the workflow histories:
 *
 * - idle share: the part of the date's wall time during which no activity was running — time
 *   spent only on scheduling, workflow tasks and polling (goal < 5%);
 * - the sum of activity times beside the wall time (above 1× where archives overlap);
 * - history events per archive workflow and for the date workflow (goal ≤ 100 per archive);
 * - the largest payload anywhere in those histories (goal ≤ 64 KB).
 */
import { option, startResult, table, writeResult } from './lib/report.ts';
import { coveredMs, runGeneratedDate } from './lib/pipeline-run.ts';
import { median } from './lib/stats.ts';

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const archives = Number(option(argv, 'archives', quick ? '6' : '144'));
  const clipsPerArchive = Number(option(argv, 'clips', '20'));
  const date = '2025-02-03';
  const result = startResult('orchestration', quick, { date, archives, clipsPerArchive, model: 'tiny.en' });
  const run = await runGeneratedDate({
    date,
    archives,
    clipsPerArchive,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const wallMs = run.wallS * 1000;
  const start = Math.min(...run.activities.map((a) => a.startMs));
  const end = Math.max(...run.activities.map((a) => a.endMs));
  const covered = coveredMs(run.activities);
  const sumMs = run.activities.reduce((n, a) => n + (a.endMs - a.startMs), 0);
  // The server's clock bounds the activities; the client's wall time includes start and result.
  const idleShare = 1 - covered / wallMs;
  const archiveEvents = Object.entries(run.historyEvents)
    .filter(([id]) => id !== `process-date-${date}`)
    .map(([, n]) => n);
  const byType: Record<string, number[]> = {};
  for (const a of run.activities) (byType[a.type] ??= []).push(a.endMs - a.startMs);
  result.repetitions.push({
    activities: run.activities,
    historyEvents: run.historyEvents,
    memory: run.memory,
  });
  result.summary = {
    clips: run.clips,
    generateS: run.generateS,
    wallS: run.wallS,
    activitySpanS: (end - start) / 1000,
    sumActivityS: sumMs / 1000,
    activityCoveredS: covered / 1000,
    idleShare,
    historyEventsPerArchive: { max: Math.max(...archiveEvents), median: median(archiveEvents) },
    historyEventsDate: run.historyEvents[`process-date-${date}`],
    largestPayload: run.largestPayload,
    activityMedianMsByType: Object.fromEntries(Object.entries(byType).map(([k, v]) => [k, median(v)])),
    dateSummary: run.summary,
    goals: { idleShare: '< 5%', eventsPerArchive: '<= 100', largestPayloadBytes: '<= 65536' },
    met: {
      idleShare: idleShare < 0.05,
      eventsPerArchive: Math.max(...archiveEvents) <= 100,
      largestPayload: run.largestPayload.bytes <= 65536,
    },
  };
  const file = writeResult(result);
  console.log(`orchestration: ${archives} archives × ${clipsPerArchive} clips, tiny.en\n`);
  console.log(
    table(
      ['measure', 'value', 'goal'],
      [
        ['wall time of the date', `${run.wallS.toFixed(1)} s`, ''],
        [
          'sum of activity times',
          `${(sumMs / 1000).toFixed(1)} s (${(sumMs / wallMs).toFixed(2)}× wall)`,
          '',
        ],
        ['wall time with an activity running', `${(covered / 1000).toFixed(1)} s`, ''],
        ['idle share (no activity running)', `${(idleShare * 100).toFixed(1)}%`, '< 5%'],
        [
          'history events per archive (max / median)',
          `${Math.max(...archiveEvents)} / ${median(archiveEvents)}`,
          '≤ 100',
        ],
        ['history events of the date workflow', String(run.historyEvents[`process-date-${date}`]), ''],
        ['largest payload', `${run.largestPayload.bytes} B (${run.largestPayload.eventType})`, '≤ 64 KB'],
      ],
    ),
  );
  console.log(
    '\n' +
      table(
        ['activity', 'count', 'median ms'],
        Object.entries(byType).map(([k, v]) => [k, v.length, median(v)]),
      ),
  );
  console.log(`\nwrote ${file}`);
}

await main(process.argv.slice(2));
