/**
 * How long a pilot job (a SLURM job running a worker) may still work, and whether the next batch
 * fits in it. HyperQueue's rule: a worker refuses work that would not finish before its
 * allocation ends. Knows nothing of Temporal; the worker wiring is workers/pilot.ts.
 */

/** SLURM's words for "no end time". */
const UNLIMITED = new Set(['', 'N/A', 'NONE', 'UNKNOWN', 'UNLIMITED', 'INVALID']);

/**
 * Parses a job's end time as SLURM prints it: `SLURM_JOB_END_TIME` (Unix seconds, SLURM 23.02+),
 * `squeue -o %e` (`2026-12-01T14:05:00`, the cluster's local time), or a `scontrol show job`
 * dump (`EndTime=2026-12-01T14:05:00`). Returns undefined for a job without an end time
 * (`Unknown`, `N/A`, `NONE`); throws on anything else, naming what it got.
 */
export function parseSlurmEndTime(text: string): Date | undefined {
  const fromScontrol = /(?:^|\s)EndTime=(\S+)/.exec(text);
  const value = (fromScontrol ? fromScontrol[1] : text).trim();
  if (UNLIMITED.has(value.toUpperCase())) return undefined;
  if (/^\d+$/.test(value)) return new Date(Number(value) * 1000);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(value)) {
    // No zone: SLURM prints local time, and so does Date's parser for this form.
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new Error(`not a SLURM end time: ${JSON.stringify(text.slice(0, 200))}`);
}

/** The longest of the last few batch durations: recent, so a slow warm-up is soon forgotten. */
export class BatchTimes {
  private readonly recent: number[] = [];

  constructor(private readonly keep = 10) {}

  record(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > this.keep) this.recent.shift();
  }

  longest(): number | undefined {
    return this.recent.length > 0 ? Math.max(...this.recent) : undefined;
  }
}

export interface WalltimeOptions {
  /** When the job ends; undefined = no time limit (a worker outside SLURM). */
  endsAt?: Date;
  /** A fixed margin; unset = twice the longest recent batch. */
  marginMs?: number;
  /** The batch time assumed until one has been measured. */
  firstBatchMs: number;
  now?: () => number;
}

export type BatchDecision = { start: true } | { start: false; reason: string };

/**
 * Decides, batch by batch, whether this job may start more work. A batch starts only when the
 * time left exceeds the margin (default: twice the longest recent batch, so that even a batch
 * slower than any seen so far finishes); after `drain()` (SIGTERM from SLURM's `--signal`, or
 * `scancel --signal=TERM`) none starts at all.
 */
export class Walltime implements BatchGate {
  private readonly batches = new BatchTimes();
  private drainReason: string | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: WalltimeOptions) {
    this.now = opts.now ?? Date.now;
  }

  get endsAt(): Date | undefined {
    return this.opts.endsAt;
  }

  /** Milliseconds until the job ends; Infinity without a time limit. */
  timeLeftMs(): number {
    return this.opts.endsAt ? this.opts.endsAt.getTime() - this.now() : Infinity;
  }

  /** The time a batch must have left to start. */
  marginMs(): number {
    return this.opts.marginMs ?? 2 * (this.batches.longest() ?? this.opts.firstBatchMs);
  }

  recordBatch(ms: number): void {
    this.batches.record(ms);
  }

  drain(reason: string): void {
    this.drainReason ??= reason;
  }

  get draining(): boolean {
    return this.drainReason !== undefined;
  }

  mayStartBatch(): BatchDecision {
    if (this.drainReason !== undefined) return { start: false, reason: `draining (${this.drainReason})` };
    const left = this.timeLeftMs();
    const margin = this.marginMs();
    if (left <= margin) {
      return {
        start: false,
        reason: `${seconds(left)} s left in the job, a batch needs ${seconds(margin)} s`,
      };
    }
    return { start: true };
  }
}

/** What a batch loop asks before each batch, and tells after it. */
export interface BatchGate {
  mayStartBatch(): BatchDecision;
  recordBatch(ms: number): void;
  /** A task (an archive) finished on this worker. */
  taskDone?(): void;
}

function seconds(ms: number): number {
  return Math.max(0, Math.round(ms / 1000));
}
