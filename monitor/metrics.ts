/**
 * /metrics for Prometheus. The pipeline's workers may run anywhere (SLURM jobs come and go), so
 * the figures come from where they all write — PostgreSQL and Temporal — read at scrape time.
 * Each gauge is set from the whole database on every scrape, so values never double count.
 */
import { Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/queries/database.ts';
import { countsByStatus } from '../db/queries/clip-counts.ts';
import { archiveCountsByStatus, archiveDurations, failuresByStage } from '../db/queries/monitor.ts';
import type { TemporalView } from './temporal.ts';

const ARCHIVE_SECONDS_BUCKETS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export interface Metrics {
  contentType: string;
  /** The exposition text, every figure read now. */
  render(): Promise<string>;
}

export function createMetrics(db: Db, temporal: TemporalView): Metrics {
  const registry = new Registry();
  new Gauge({
    name: 'audio_pipeline_clips',
    help: 'Clips in the database by status (uploaded and stored are processed)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [status, n] of Object.entries(await countsByStatus(db, undefined))) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'audio_pipeline_clip_failures',
    help: 'Failed clips by the stage they failed at',
    labelNames: ['stage'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { stage, n } of await failuresByStage(db)) this.set({ stage }, n);
    },
  });
  new Gauge({
    name: 'audio_pipeline_archives',
    help: 'Archives in processing_queue by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [status, n] of Object.entries(await archiveCountsByStatus(db))) this.set({ status }, n);
    },
  });
  const archiveSeconds = new Histogram({
    name: 'audio_pipeline_archive_duration_seconds',
    help: 'Wall time of each finished archive, all stages (started → finished)',
    buckets: ARCHIVE_SECONDS_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'audio_pipeline_task_queue_backlog',
    help: 'Tasks waiting for a worker per task queue and kind (absent when Temporal is unreachable)',
    labelNames: ['task_queue', 'kind'],
    registers: [registry],
    async collect() {
      this.reset();
      const backlog = await temporal.backlog();
      for (const [queue, counts] of Object.entries(backlog ?? {})) {
        this.set({ task_queue: queue, kind: 'workflow' }, counts.workflow);
        this.set({ task_queue: queue, kind: 'activity' }, counts.activity);
      }
    },
  });
  return {
    contentType: registry.contentType,
    async render() {
      // A histogram cannot be set, only observed: rebuilt from every finished archive per scrape.
      archiveSeconds.reset();
      for (const s of await archiveDurations(db)) archiveSeconds.observe(s);
      return registry.metrics();
    },
  };
}
