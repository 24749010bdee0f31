import { missingGlobusSettings, type Config } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { GlobusClient } from '../lib/globus/client.ts';

/** One client (one token) per worker's Config, shared by listArchives and transfer. */
const clients = new WeakMap<Config, GlobusClient>();

/**
 * The worker's Globus client and destination collection, or a ConfigError naming what a globus:
 * source (from SOURCE, `run --source` or a workflow input) still needs.
 */
export function globusFor(config: Config): { client: GlobusClient; destinationEndpoint: string } {
  const missing = missingGlobusSettings(config.globus);
  if (missing.length > 0) throw new ConfigError(`a globus: source ${missing.join('; ')}`);
  let client = clients.get(config);
  if (!client) clients.set(config, (client = new GlobusClient(config.globus.credentials!)));
  return { client, destinationEndpoint: config.globus.destinationEndpoint! };
}
