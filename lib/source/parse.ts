import { ConfigError } from '../errors.ts';

/** Where a date's archives come from. Globus (`globus:<endpoint-id>:<path>`) comes in its own issue. */
export type LocalSource = { kind: 'local'; dir: string };

/**
 * `local:<dir>` (DESIGN.md §5): SOURCE, `run --source` or a workflow input's `source`. What this
 * version cannot serve is a ConfigError (lib/config.ts names the variable; an activity fails
 * without retrying), whether a Globus source or anything unknown.
 */
export function parseSource(spec: string): LocalSource {
  if (spec.startsWith('local:') && spec.length > 'local:'.length)
    return { kind: 'local', dir: spec.slice('local:'.length) };
  if (/^globus:[^:]+:.+$/.test(spec))
    throw new ConfigError('Globus transfer is not available in this version; use local:<dir>');
  throw new ConfigError(`expected local:<dir>, got ${JSON.stringify(spec)}`);
}
