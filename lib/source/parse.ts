import { BadInputError } from '../errors.ts';

export type Source = { kind: 'local'; dir: string } | { kind: 'globus'; endpoint: string; path: string };

/** `local:<dir>` or `globus:<endpoint-id>:<path>` (DESIGN.md §5). */
export function parseSource(spec: string): Source {
  if (spec.startsWith('local:') && spec.length > 'local:'.length)
    return { kind: 'local', dir: spec.slice('local:'.length) };
  const globus = /^globus:([^:]+):(.+)$/.exec(spec);
  if (globus) return { kind: 'globus', endpoint: globus[1], path: globus[2] };
  throw new BadInputError(
    `expected local:<dir> or globus:<endpoint-id>:<path>, got ${JSON.stringify(spec)}`,
    'SOURCE',
  );
}
