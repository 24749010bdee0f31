/** DESIGN.md §6: `run` exits 0 when every clip succeeded, 3 when the date completed with errors. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  completedWithErrors: 3,
  interrupted: 130,
} as const;

/** An error the CLI reports as one clear line (no stack trace) with a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}
