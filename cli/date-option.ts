import { isCalendarDate } from '../lib/archive/dates.ts';
import { CliError, EXIT } from './exit-codes.ts';

/** `--date` (or `option`) must be a real calendar day (2024-02-30 is refused), else a usage error. */
export function checkDateOption(date: string, option = '--date'): void {
  if (!isCalendarDate(date)) {
    throw new CliError(
      `${option} must be a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`,
      EXIT.usage,
    );
  }
}
