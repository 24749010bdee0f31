import { ConfigError } from '../errors.ts';

/** Where a date's archives come from: a local folder, or a folder on a Globus collection. */
export type LocalSource = { kind: 'local'; dir: string };
export type GlobusSource = { kind: 'globus'; endpoint: string; path: string };
export type Source = LocalSource | GlobusSource;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `local:<dir>` or `globus:<endpoint-id>:<path>` (DESIGN.md §5): SOURCE, `run --source` or a
 * workflow input's `source`. Either names a folder that holds `YYYY-MM-DD_HH-MM.tar.xz`
 * archives. Anything else is a ConfigError (lib/config.ts names the variable; an activity fails
 * without retrying).
 */
export function parseSource(spec: string): Source {
  if (spec.startsWith('local:') && spec.length > 'local:'.length)
    return { kind: 'local', dir: spec.slice('local:'.length) };
  const globus = /^globus:([^:]+):(.+)$/.exec(spec);
  if (globus) {
    const [, endpoint, folder] = globus;
    if (!UUID.test(endpoint))
      throw new ConfigError(
        `the Globus endpoint (collection) id must be a UUID, got ${JSON.stringify(endpoint)}`,
      );
    if (!folder.startsWith('/'))
      throw new ConfigError(`the Globus path must be absolute (/… or /~/…), got ${JSON.stringify(folder)}`);
    return { kind: 'globus', endpoint: endpoint.toLowerCase(), path: folder };
  }
  throw new ConfigError(`expected local:<dir> or globus:<endpoint-id>:<path>, got ${JSON.stringify(spec)}`);
}
