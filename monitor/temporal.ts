/**
 * The monitor's optional view of Temporal. The dashboard must work on a finished run with no
 * Temporal server at all, so every question here answers `unknown` rather than failing when the
 * server is unreachable; a connection is retried at most every RETRY_MS, never on every request.
 */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
// CommonJS package: its named exports are not visible to ESM, the default export is.
import protos from '@temporalio/proto';
import type { Config } from '../lib/config.ts';
import { errorMessage } from '../lib/errors.ts';

const CONNECT_TIMEOUT_MS = 1500;
const RETRY_MS = 5000;
/** A request waits at most this long for Temporal: a stalled server makes a page slow, never stuck. */
const CALL_TIMEOUT_MS = 3000;
const { TaskQueueKind, TaskQueueType } = protos.temporal.api.enums.v1;

export type Reachability = { reachable: true; address: string } | { reachable: false; reason: string };

/** Backlog per task queue: tasks waiting for a worker, by kind; null when Temporal is unknown. */
export type Backlog = Record<string, { workflow: number; activity: number }> | null;

export interface TemporalView {
  reachability(): Promise<Reachability>;
  /** The workflow's status name (RUNNING, COMPLETED, FAILED…), 'NOT_STARTED', or 'unknown'. */
  workflowState(workflowId: string): Promise<string>;
  backlog(): Promise<Backlog>;
  /**
   * Runs an action (retry) with a client, under the same deadline as the questions: null when
   * Temporal is unreachable; the action's own errors propagate.
   */
  act<T>(fn: (client: Client) => Promise<T>): Promise<{ result: T } | null>;
  close(): Promise<void>;
}

/**
 * TEMPORAL_ADDRESS, or else where `audio-pipeline dev` runs its server (127.0.0.1:TEMPORAL_PORT),
 * so `serve` next to `dev` sees live workflows without any setting.
 */
export function temporalView(config: Pick<Config, 'temporal'>): TemporalView {
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
  const namespace = config.temporal.namespace;
  let connected: { connection: Connection; client: Client } | undefined;
  let lastFailure: { at: number; reason: string } | undefined;
  let connecting: Promise<void> | undefined;

  const connect = async (): Promise<void> => {
    if (connected) return;
    if (lastFailure && Date.now() - lastFailure.at < RETRY_MS) return;
    connecting ??= (async () => {
      try {
        const connection = await Connection.connect({ address, connectTimeout: CONNECT_TIMEOUT_MS });
        connected = { connection, client: new Client({ connection, namespace }) };
        lastFailure = undefined;
      } catch (err) {
        lastFailure = { at: Date.now(), reason: `${address}: ${errorMessage(err)}` };
      } finally {
        connecting = undefined;
      }
    })();
    await connecting;
  };

  /** Runs `fn` on the client; a failure that looks like a lost server drops the connection. */
  const withClient = async <T>(fn: (client: Client) => Promise<T>, fallback: T): Promise<T> => {
    await connect();
    if (!connected) return fallback;
    try {
      const { connection, client } = connected;
      return await connection.withDeadline(Date.now() + CALL_TIMEOUT_MS, () => fn(client));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw err;
      lastFailure = { at: Date.now(), reason: `${address}: ${errorMessage(err)}` };
      const lost = connected;
      connected = undefined;
      await lost.connection.close().catch(() => {});
      return fallback;
    }
  };

  const backlogOf = async (
    client: Client,
    name: string,
    type: protos.temporal.api.enums.v1.TaskQueueType,
  ) => {
    const response = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: type,
      reportStats: true,
    });
    return Number(response.stats?.approximateBacklogCount ?? 0);
  };

  return {
    async reachability() {
      await connect();
      if (connected) return { reachable: true, address };
      return { reachable: false, reason: lastFailure?.reason ?? `${address}: not connected` };
    },
    async workflowState(workflowId) {
      try {
        return await withClient(
          async (client) => (await client.workflow.getHandle(workflowId).describe()).status.name,
          'unknown',
        );
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'NOT_STARTED';
        throw err;
      }
    },
    backlog() {
      return withClient<Backlog>(async (client) => {
        const queues = [...new Set([config.temporal.taskQueue, config.temporal.gpuTaskQueue])];
        const entries = await Promise.all(
          queues.map(async (name) => {
            const [workflow, activity] = await Promise.all([
              backlogOf(client, name, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
              backlogOf(client, name, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
            ]);
            return [name, { workflow, activity }] as const;
          }),
        );
        return Object.fromEntries(entries);
      }, null);
    },
    async act(fn) {
      await connect();
      if (!connected) return null;
      const { connection, client } = connected;
      return { result: await connection.withDeadline(Date.now() + CALL_TIMEOUT_MS, () => fn(client)) };
    },
    async close() {
      await connecting;
      await connected?.connection.close().catch(() => {});
      connected = undefined;
    },
  };
}
