import { Client, Connection } from '@temporalio/client';
import type { Config } from '../lib/config.ts';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A client of the configured server (TEMPORAL_ADDRESS, else the `audio-pipeline dev` server on
 * TEMPORAL_PORT) for one command; the connection is closed however `fn` ends. An unreachable
 * server is an error within 10 s naming the address, not a hang.
 */
export async function withTemporalClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
  const connection = await Connection.connect({ address, connectTimeout: CONNECT_TIMEOUT_MS }).catch(
    (err: unknown) => {
      throw new Error(
        `no Temporal server at ${address} (${err instanceof Error ? err.message : err}): ` +
          'start one with `audio-pipeline dev` or set TEMPORAL_ADDRESS',
      );
    },
  );
  try {
    return await fn(new Client({ connection, namespace: config.temporal.namespace }));
  } finally {
    await connection.close();
  }
}
