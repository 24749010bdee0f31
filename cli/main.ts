import { Command, CommanderError } from 'commander';
import { ConfigError } from '../lib/errors.ts';
import { createCliContext, dbLogger } from './context.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { installSignalHandling, InterruptedError } from './signals.ts';
import { registerDbCommands } from './commands/db.ts';
import { registerDemoCommand } from './commands/demo.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerExportCommand } from './commands/export.ts';
import { registerModelCommands } from './commands/model.ts';
import { registerRetryCommands } from './commands/retry.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerSampleCommand } from './commands/sample.ts';
import { registerScheduleCommands } from './commands/schedule.ts';
import { registerSearchCommand } from './commands/search.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerSlurmCommands } from './commands/slurm.ts';
import { registerStatusCommand } from './commands/status.ts';
import { registerStorageCommands } from './commands/storage.ts';
import { registerTemporalCommands } from './commands/temporal.ts';
import { registerTranscribeCommand } from './commands/transcribe.ts';
import { registerWorkerCommand } from './commands/worker.ts';

installSignalHandling();
const ctx = createCliContext();
const program = new Command('audio-pipeline')
  .description(
    'TikTok audio archives → Opus + Whisper transcripts → PostgreSQL full-text search, orchestrated by Temporal. ' +
      'Settings come from the environment (DATA_DIR, DATABASE_URL, TEMPORAL_ADDRESS, SOURCE, STORAGE_TARGET, ' +
      'WHISPER_MODEL, WHISPER_DEVICE, ...); unset, everything runs embedded under ./data.',
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const EXIT_GRACE_MS = 2000;

program.hook('preAction', (_program, command) => {
  if (command.name() === 'worker' || command.name() === 'dev') ctx.setDefaultLogLevel('info');
});

registerDemoCommand(program, ctx);
registerDevCommand(program, ctx);
registerRunCommand(program, ctx);
registerStatusCommand(program, ctx);
registerRetryCommands(program, ctx);
registerScheduleCommands(program, ctx);
registerExportCommand(program, ctx);
registerSearchCommand(program, ctx);
registerServeCommand(program, ctx);
registerTranscribeCommand(program, ctx);
registerModelCommands(program, ctx);
registerSampleCommand(program, ctx);
registerDbCommands(program, { loadConfig: ctx.loadConfig, logger: dbLogger(ctx) });
registerWorkerCommand(program, ctx);
registerSlurmCommands(program, ctx);
registerStorageCommands(program, ctx);
registerTemporalCommands(program, ctx);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.exitCode = report(err);
}
// The command is over and has stopped what it started. Should anything still hold the event loop
// (a connection left open by a failure path), the CLI exits anyway rather than hang.
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();

function report(err: unknown): number {
  if (err instanceof InterruptedError) {
    process.stderr.write(`${err.message}\n`);
    return EXIT.interrupted;
  }
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`error: ${err.message}\n`);
    return EXIT.usage;
  }
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (ctx.debugging() && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.error;
}
