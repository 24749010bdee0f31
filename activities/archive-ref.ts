import { ArchiveStaging } from '../lib/staging.ts';
import type { Config } from '../lib/config.ts';

/** The plain-JSON reference every per-archive activity takes. */
export interface ArchiveRef {
  date: string;
  archive: string;
}

export function stagingFor(config: Config, ref: ArchiveRef): ArchiveStaging {
  return new ArchiveStaging(config.stagingDir, ref.date, ref.archive);
}
