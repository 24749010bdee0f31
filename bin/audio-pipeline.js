#!/usr/bin/env node
// Registers tsx in-process so that the checkout runs its TypeScript sources with no build step
// and signals (Ctrl-C) reach the CLI itself, not a wrapper.
import process from 'node:process';

// A signal while the modules load (~2 s; a SLURM pilot job that is signalled as it starts) would
// end the process by Node's default action: killed by SIGTERM, the job FAILED. A worker holds it
// for cli/signals.ts, which stops the worker before it takes work (exit 0: nothing to drain);
// any other command exits at once with the CLI's code for an interruption (EXIT.interrupted).
// Installed before anything is imported, tsx included.
const hold = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'worker';
const signals = [];
const listener = (signal) => {
  if (!hold) process.exit(130);
  signals.push(signal);
};
process.on('SIGINT', listener);
process.on('SIGTERM', listener);
globalThis[Symbol.for('audio-pipeline.early-signals')] = { hold, signals, listener };

const { register } = await import('tsx/esm/api');
register();
await import('../cli/main.ts');
