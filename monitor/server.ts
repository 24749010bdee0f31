/**
 * Starts the monitor on an open database: the HTTP server, its Temporal view and metrics.
 * `close()` stops accepting requests, ends open connections and closes the Temporal connection;
 * the database belongs to the caller.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Config } from '../lib/config.ts';
import type { Db } from '../db/queries/database.ts';
import type { Logger } from '../lib/log.ts';
import { createMonitorApp, type RetryDate } from './app.ts';
import { createMetrics } from './metrics.ts';
import { retryDate } from '../temporal-client/retry-date.ts';
import { temporalView } from './temporal.ts';

export interface RunningMonitor {
  /** http://host:port/ — the dashboard. */
  url: string;
  close(): Promise<void>;
}

export async function startMonitor(
  config: Config,
  db: Db,
  logger: Pick<Logger, 'error'>,
  options: { host: string; port: number; retry?: RetryDate },
): Promise<RunningMonitor> {
  const temporal = temporalView(config);
  const app = createMonitorApp({
    db,
    temporal,
    metrics: createMetrics(db, temporal),
    retry: options.retry ?? ((client, date) => retryDate(client, config, date)),
    token: config.monitor.token,
    storageRoot: config.storageTarget.path,
    stagingDir: config.stagingDir,
    logger,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () => resolve(s));
    s.once('error', (err) =>
      reject(new Error(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`)),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: monitorUrl(options.host, port),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      await temporal.close();
    },
  };
}

/** The dashboard's URL for a listening address (an IPv6 host in brackets). */
export function monitorUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}
