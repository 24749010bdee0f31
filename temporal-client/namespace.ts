/**
 * The pipeline's namespace and search attributes (workflows/contract.ts) on a Temporal server:
 * registered when missing, on the dev server (local/temporal-dev-server.ts) and on a production
 * server (`audio-pipeline temporal setup`, deploy/temporal/). A new namespace and new attributes
 * take a few seconds to show (the server caches namespaces), hence the waits.
 */
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
// CommonJS package: its named exports are not visible to ESM, the default export is.
import proto from '@temporalio/proto';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../workflows/contract.ts';

const { IndexedValueType } = proto.temporal.api.enums.v1;

const INDEXED_TYPE: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Text: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface EnsureNamespaceOptions {
  /** How long to keep trying (a server still starting, a namespace not visible yet). */
  timeoutMs: number;
  /** Retention of closed workflows in a namespace registered here; default 7 days. */
  retentionDays?: number;
}

/**
 * Registers `namespace` (when missing) and the pipeline's search attributes (those missing),
 * then waits until both are visible. An unreachable server is retried until the timeout.
 */
export async function ensureNamespace(
  address: string,
  namespace: string,
  options: EnsureNamespaceOptions,
): Promise<{ registered: boolean; addedAttributes: string[] }> {
  const deadline = Date.now() + options.timeoutMs;
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`Temporal at ${address}: ${what}: ${String(err)}`);
        await sleep(500);
      }
    }
  };
  const connection = await retry('not reachable', () =>
    Connection.connect({ address, connectTimeout: 5000 }),
  );
  try {
    let registered = false;
    await retry(`registering namespace ${namespace}`, async () => {
      try {
        await connection.workflowService.describeNamespace({ namespace });
      } catch (err) {
        if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
        await connection.workflowService.registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs(`${options.retentionDays ?? 7} days`),
        });
        registered = true;
      }
    });
    const { customAttributes } = await retry(`namespace ${namespace} not usable`, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    const missing = Object.entries(PIPELINE_SEARCH_ATTRIBUTES).filter(
      ([name]) => !(name in (customAttributes ?? {})),
    );
    if (missing.length > 0) {
      await retry('adding search attributes', () =>
        connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_TYPE[type]!])),
        }),
      );
    }
    await retry('search attributes not visible', async () => {
      if (!(await namespaceReady(address, namespace))) throw new Error('not ready yet');
    });
    return { registered, addedAttributes: missing.map(([name]) => name) };
  } finally {
    await connection.close();
  }
}

/** Ready = the frontend answers, the namespace exists and our search attributes are listed. */
export async function namespaceReady(address: string, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    return await connection.withDeadline(Date.now() + 3000, async () => {
      await connection!.workflowService.describeNamespace({ namespace });
      const { customAttributes } = await connection!.operatorService.listSearchAttributes({ namespace });
      return Object.keys(PIPELINE_SEARCH_ATTRIBUTES).every((name) => name in (customAttributes ?? {}));
    });
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => {});
  }
}
