import type { DateSummary } from '../workflows/contract.ts';

/** The closing summary of `run` and `demo`: per archive, then clip counts per status. */
export function formatSummary(summary: DateSummary, countsByStatus: Record<string, number>): string {
  const lines = [`date ${summary.date}: ${summary.status}`];
  for (const a of summary.archives) {
    const counts = `${a.filesTotal} clips, ${a.filesDone} ok, ${a.filesFailed} failed`;
    lines.push(`  ${a.archive}  ${a.status.padEnd(21)} ${counts}${a.error ? `  — ${a.error}` : ''}`);
  }
  const statuses = Object.entries(countsByStatus)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status} ${n}`);
  lines.push(`clips by status: ${statuses.join(', ') || 'none'}`);
  return lines.join('\n');
}
