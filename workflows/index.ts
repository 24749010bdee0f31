// The worker bundles this file: only deterministic workflow code below.
export { processDate } from './process-date.ts';
export { processArchive } from './process-archive.ts';
export { autoscaleGpuWorkers } from './autoscale.ts';
export { discoverDates } from './discover-dates.ts';
