/**
 * The encoder session in a child process (lib/whisper/encoder-child.mjs), so that the encoder
 * runs while this process decodes: onnxruntime-node's session.run blocks its thread, and the
 * decoding loop leaves the CPU partly idle (memory-bound steps, single-threaded logit filters).
 * Requests run one at a time, in the order they were made. A child that dies (a crash, an
 * out-of-memory kill) fails the requests it held and is started again for the next one, so a
 * long-lived worker process does not keep a broken engine. The child exits when this process
 * does, however it ends (its IPC channel closes), and an idle child does not keep it alive.
 */
import { fork, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as ort from 'onnxruntime-node';
import { untrustedChildEnv } from '../config.ts';

interface Reply {
  id: number;
  dims?: number[];
  ms?: number;
  error?: string;
  skipped?: boolean;
}

export interface Encoded {
  data: Float32Array;
  dims: number[];
  /** Time the session took, in the child. */
  ms: number;
}

interface Request {
  id: number;
  mel: Float32Array;
  dims: number[];
  resolve: (r: Encoded) => void;
  reject: (err: Error) => void;
}

/**
 * Requests in the child at once: one running and the next already there, so it never waits for
 * this process (busy in a decoder step) to send it work. The others wait here, where cancel()
 * can drop them.
 */
const IN_CHILD = 2;

/** Handles of the child and its channel that keep the event loop alive (ref) or not (unref). */
function holdOpen(child: ChildProcess, hold: boolean): void {
  const channel = child.channel as { ref?: () => void; unref?: () => void } | undefined;
  if (hold) {
    child.ref();
    channel?.ref?.();
  } else {
    child.unref();
    channel?.unref?.();
  }
}

/** Starts a child that loads `file`; resolves once it is ready, or rejects naming the file. */
async function startChild(file: string, options: ort.InferenceSession.SessionOptions): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./encoder-child.mjs', import.meta.url));
  // execArgv: [] — the child is plain JavaScript and needs no loader from this process.
  // The child gets no environment beyond PATH and locale (no database URL, no tokens, no
  // NODE_OPTIONS): it reads one model file and talks only to this process.
  const child = fork(script, [], {
    env: untrustedChildEnv(),
    execArgv: [],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  type First = { ready?: boolean; loadError?: string };
  let onMessage: (m: First) => void = () => undefined;
  let onError: (e: Error) => void = () => undefined;
  let onExit: (code: number | null, signal: string | null) => void = () => undefined;
  const first = await new Promise<First>((resolve) => {
    onMessage = resolve;
    onError = (e) => resolve({ loadError: e.message });
    onExit = (code, signal) =>
      resolve({ loadError: `the encoder process exited (${signal ?? `code ${code}`}) while loading` });
    child.once('message', onMessage).once('error', onError).once('exit', onExit);
    child.send({ file, options });
  });
  child.off('message', onMessage).off('error', onError).off('exit', onExit);
  if (!first.ready) {
    child.kill('SIGKILL');
    throw new Error(`encoder ${file}: ${first.loadError ?? 'the encoder process did not start'}`);
  }
  holdOpen(child, false);
  return child;
}

const DIR_PREFIX = 'audio-pipeline-encoder-';
/** The transfer folders of this process's encoders, removed at exit if not released before. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function removeDir(dir: string): void {
  liveDirs.delete(dir);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // at exit a child may be writing its last output into it: the folder is left, and the next
    // encoder started here sweeps it (sweepStaleDirs)
  }
}

/** Folders left by encoders of processes that are gone (killed before they could remove them). */
function sweepStaleDirs(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^audio-pipeline-encoder-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') removeDir(path.join(root, name));
    }
  }
}

/**
 * A private folder for the arrays going to and from the child: in /dev/shm (memory) where it
 * can be made, else the temporary directory. Removed on release and when this process exits.
 */
function transferDir(): string {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => [...liveDirs].forEach(removeDir));
  }
  let lastError: unknown;
  for (const root of existsSync('/dev/shm') ? ['/dev/shm', os.tmpdir()] : [os.tmpdir()]) {
    try {
      const dir = mkdtempSync(path.join(root, `${DIR_PREFIX}${process.pid}-`));
      liveDirs.add(dir);
      sweepStaleDirs(root);
      return dir;
    } catch (err) {
      lastError = err; // /dev/shm full or not writable here: the temporary directory then
    }
  }
  throw new Error(`no folder for the encoder process's arrays: ${(lastError as Error).message}`);
}

export class EncoderProcess {
  private nextId = 1;
  /** Where the mel spectrograms and the encoder outputs pass through (see encoder-child.mjs). */
  readonly dir = transferDir();
  /** Requests not sent yet, oldest first. */
  private readonly waiting: Request[] = [];
  /** Requests in the child, by id. */
  private readonly sent = new Map<number, Request>();
  private released = false;
  /** The live child, or the one starting; undefined after a failure (restarted on demand). */
  private child: Promise<ChildProcess> | undefined;
  /** The live child once started (the settled value of `child`). */
  private current: ChildProcess | undefined;

  private constructor(
    private readonly file: string,
    private readonly options: ort.InferenceSession.SessionOptions,
  ) {}

  /** Starts the child and loads `file` in it; rejects with onnxruntime's message if it cannot. */
  static async start(file: string, options: ort.InferenceSession.SessionOptions): Promise<EncoderProcess> {
    const p = new EncoderProcess(file, options);
    try {
      await p.live();
    } catch (err) {
      await p.release();
      throw err;
    }
    return p;
  }

  /** The child's pid, once started (for tests and diagnostics). */
  async pid(): Promise<number | undefined> {
    return (await this.child?.catch(() => undefined))?.pid;
  }

  private live(): Promise<ChildProcess> {
    if (this.child) return this.child;
    const started = startChild(this.file, this.options).then((child) => {
      this.current = child;
      this.watch(child);
      return child;
    });
    this.child = started;
    started.catch((err: Error) => {
      if (this.child === started) this.child = undefined; // the next request tries again
      this.failAll(err);
    });
    return started;
  }

  private watch(child: ChildProcess): void {
    child.on('message', (msg: Reply) => {
      const r = this.sent.get(msg.id);
      const dims = msg.error === undefined ? msg.dims : undefined; // undefined: it failed
      // failed (or failed already: the child was given up on), a partial output may be there
      if (!r || !dims) this.discardFiles(msg.id);
      if (!r) return;
      this.sent.delete(msg.id);
      if (!dims) r.reject(new Error(`encoder ${this.file}: ${msg.error ?? 'no output'}`));
      else {
        try {
          r.resolve({ data: this.takeOutput(msg.id), dims, ms: msg.ms ?? 0 });
        } catch (err) {
          r.reject(new Error(`encoder ${this.file}: ${(err as Error).message}`));
        }
      }
      this.pump();
    });
    child.once('exit', (code, signal) => {
      if (this.current === child) {
        this.current = undefined;
        this.child = undefined; // the next request starts another
      }
      this.failAll(new Error(`encoder process for ${this.file} exited (${signal ?? `code ${code}`})`));
    });
    child.on('error', () => child.kill('SIGKILL')); // a failed send: 'exit' follows and fails what is held
  }

  private melFile(id: number): string {
    return path.join(this.dir, `${id}.mel`);
  }

  private outFile(id: number): string {
    return path.join(this.dir, `${id}.out`);
  }

  /** Removes whatever request `id` left in the folder (it failed, or its child died). */
  private discardFiles(id: number): void {
    rmSync(this.melFile(id), { force: true });
    rmSync(this.outFile(id), { force: true });
  }

  /** Reads (and removes) the output the child wrote for request `id`. */
  private takeOutput(id: number): Float32Array {
    const file = this.outFile(id);
    const bytes = readFileSync(file);
    unlinkSync(file);
    // a Float32Array needs a 4-byte aligned offset: a dedicated buffer (as large reads get) has it
    return bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  /** Fails every request, sent or waiting (the child died, or could not start). */
  private failAll(err: Error): void {
    const all = [...this.sent.values(), ...this.waiting.splice(0)];
    for (const id of this.sent.keys()) this.discardFiles(id);
    this.sent.clear();
    for (const r of all) r.reject(err);
  }

  /** Sends waiting requests while the child holds fewer than IN_CHILD. */
  private pump(): void {
    const child = this.current;
    if (!child?.connected) {
      // Its channel closed and 'exit' (which fails the waiting requests) is still to come: until
      // then the child's handle must keep this process alive, or it could end with work unfinished.
      if (child && this.waiting.length > 0) child.ref();
      return;
    }
    while (this.sent.size < IN_CHILD && this.waiting.length > 0) {
      const r = this.waiting.shift()!;
      try {
        writeFileSync(this.melFile(r.id), new Uint8Array(r.mel.buffer, r.mel.byteOffset, r.mel.byteLength));
      } catch (err) {
        this.discardFiles(r.id);
        r.reject(new Error(`encoder ${this.file}: ${(err as Error).message}`)); // a full tmpfs, say
        continue;
      }
      this.sent.set(r.id, r);
      child.send({ id: r.id, melFile: this.melFile(r.id), dims: r.dims, outFile: this.outFile(r.id) });
    }
    // Held while a request is out: an idle child must not keep this process alive, a busy one must.
    holdOpen(child, this.sent.size > 0);
  }

  /**
   * mel [B, nMels, frames] → last_hidden_state. The mel is copied to the child (1 MB a window,
   * a file written and read, ~1 ms against 0.5 s of encoding), so the caller keeps it.
   */
  run(mel: Float32Array, dims: number[]): Promise<Encoded> {
    if (this.released) return Promise.reject(new Error(`encoder process for ${this.file} released`));
    const encoded = new Promise<Encoded>((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, mel, dims, resolve, reject });
    });
    if (this.current?.connected) this.pump();
    else
      this.live().then(
        () => this.pump(),
        () => undefined,
      ); // failures reach the request via failAll
    return encoded;
  }

  /**
   * Drops the requests not sent to the child yet (encodes made ahead for a transcription that was
   * aborted): they reject with "cancelled" instead of delaying the next. The child finishes the
   * ones it holds (at most IN_CHILD windows).
   */
  cancel(): void {
    const err = new Error(`encoder ${this.file}: cancelled`);
    for (const r of this.waiting.splice(0)) r.reject(err);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.cancel();
    try {
      await this.stopChild();
    } finally {
      removeDir(this.dir);
    }
  }

  private async stopChild(): Promise<void> {
    const child = await this.child?.catch(() => undefined);
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (child.connected) child.send({ release: true });
      else child.kill('SIGKILL');
    });
  }
}
