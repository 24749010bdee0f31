import { isCalendarDate } from '../lib/archive/dates.ts';
import { CliError, EXIT } from './exit-codes.ts';

/** `--date` must be a real calendar day (2024-02-30 is refused), else a usage error. */
export function checkDateOption(date: string): void {
  if (!isCalendarDate(date)) {
    throw new CliError(`--date must be a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`, EXIT.usage);
  }
}
