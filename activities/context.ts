import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { Db } from '../db/queries/database.ts';

/** What a worker process hands its activities: opened once, shared by every activity call. */
export interface ActivityContext {
  config: Config;
  logger: Logger;
}

export interface DatabaseContext extends ActivityContext {
  db: Db;
}
