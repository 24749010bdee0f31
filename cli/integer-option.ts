import { InvalidArgumentError } from 'commander';

/**
 * A commander option parser for a whole number from `min` (default 1: a positive integer) to
 * `max`. A bad value is a usage error (exit 2) that names the option, from commander.
 */
export function integerOption(min = 1, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected ${expected(min, max)}`);
    return n;
  };
}

function expected(min: number, max: number): string {
  if (max !== Number.MAX_SAFE_INTEGER) return `an integer from ${min} to ${max}`;
  if (min === 1) return 'a positive integer';
  if (min === 0) return 'a non-negative integer';
  return `an integer of at least ${min}`;
}
