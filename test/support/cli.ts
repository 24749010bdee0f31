/**
 * The `audio-pipeline` command as a test runs it: a child process with a given environment, run
 * to its end (a hang is killed and fails the test), or a long-running one (serve) whose first
 * matching stdout line is awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childEnv } from './child-env.ts';
import { freePorts } from './ports.ts';

export const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Everything local under dataDir, archives from `incoming`, the CI's model cache. */
export function localEnv(dataDir: string, incoming: string): NodeJS.ProcessEnv {
  return childEnv({ DATA_DIR: dataDir, SOURCE: `local:${incoming}`, LOG_LEVEL: 'warn' });
}

export function runCli(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 10 * 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * `run --date D` with a local stack on fresh ports. Ports chosen free in advance can be taken
 * before the dev server binds them: on that race only, once more with fresh ones.
 */
export async function runDateLocally(env: NodeJS.ProcessEnv, date: string): Promise<CliResult> {
  for (let attempt = 0; ; attempt++) {
    const [temporalPort, uiPort] = await freePorts(2);
    env.TEMPORAL_PORT = String(temporalPort);
    env.TEMPORAL_UI_PORT = String(uiPort);
    const result = await runCli(env, ['run', '--date', date]);
    if (attempt > 0 || !/address already in use/.test(result.stderr)) return result;
  }
}

export interface Service {
  child: ChildProcess;
  /** The first stdout match of the awaited pattern. */
  match: RegExpExecArray;
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts a command that keeps running, and waits until its stdout matches `ready`. */
export function startCli(
  env: NodeJS.ProcessEnv,
  args: string[],
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<Service> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (graceMs = 20_000) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${args.join(' ')}: not ready after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = ready.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, match, stderr: () => stderr, stop });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready\n${stderr}`));
    });
  });
}
