/**
 * The encoder session in a worker thread (lib/whisper/encoder-worker.mjs), so that the encoder
 * runs while the main thread decodes: onnxruntime-node's session.run blocks its thread, and the
 * decoding loop leaves the CPU partly idle (memory-bound steps, single-threaded logit filters).
 * Requests run one at a time, in the order they were made. A thread that dies (a crash, an
 * out-of-memory kill of the thread) fails the requests it held and is started again for the
 * next one, so a long-lived worker process does not keep a broken engine.
 */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';

interface Reply {
  id: number;
  data?: Float32Array;
  dims?: number[];
  ms?: number;
  error?: string;
  skipped?: boolean;
}

export interface Encoded {
  data: Float32Array;
  dims: number[];
  /** Time the session took, in the thread. */
  ms: number;
}

interface Pending {
  resolve: (r: Encoded) => void;
  reject: (err: Error) => void;
}

/** Starts a worker that loads `file`; resolves once it is ready, or rejects naming the file. */
async function startWorker(
  file: string,
  options: ort.InferenceSession.SessionOptions,
  generation: Int32Array,
) {
  const script = new URL('./encoder-worker.mjs', import.meta.url);
  // execArgv: [] — the worker is plain JavaScript and needs no loader from the parent.
  const worker = new Worker(script, { workerData: { file, options, generation }, execArgv: [] });
  type First = { ready?: boolean; loadError?: string };
  let onMessage: (m: First) => void = () => undefined;
  let onError: (e: Error) => void = () => undefined;
  let onExit: (code: number) => void = () => undefined;
  const first: First = await new Promise<First>((resolve) => {
    onMessage = resolve;
    onError = (e) => resolve({ loadError: e.message });
    onExit = (code) => resolve({ loadError: `the thread exited (code ${code}) while loading` });
    worker.once('message', onMessage).once('error', onError).once('exit', onExit);
  });
  // Only this function's own listeners: the Worker keeps internal ones (removeAllListeners
  // would remove them too, and its messages would stop arriving).
  worker.off('message', onMessage).off('exit', onExit);
  if (!first.ready) {
    await worker.terminate();
    worker.off('error', onError);
    throw new Error(`encoder ${file}: ${first.loadError ?? 'the thread did not start'}`);
  }
  worker.off('error', onError);
  worker.unref();
  return worker;
}

export class EncoderThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private released = false;
  /** The live thread, or the one starting; undefined after a failure (restarted on demand). */
  private worker: Promise<Worker> | undefined;
  /** Shared with the thread: requests of an older generation are skipped, not run (cancel()). */
  private readonly generation = new Int32Array(new SharedArrayBuffer(4));

  private constructor(
    private readonly file: string,
    private readonly options: ort.InferenceSession.SessionOptions,
  ) {}

  /** Starts the thread and loads `file` in it; rejects with onnxruntime's message if it cannot. */
  static async start(file: string, options: ort.InferenceSession.SessionOptions): Promise<EncoderThread> {
    const t = new EncoderThread(file, options);
    await t.live();
    return t;
  }

  private live(): Promise<Worker> {
    if (this.worker) return this.worker;
    const started = startWorker(this.file, this.options, this.generation).then((worker) => {
      this.watch(worker);
      return worker;
    });
    this.worker = started;
    started.catch(() => {
      if (this.worker === started) this.worker = undefined; // the next request tries again
    });
    return started;
  }

  private watch(worker: Worker): void {
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) worker.unref();
      if (msg.skipped) p.reject(new Error(`encoder ${this.file}: cancelled`));
      else if (msg.error !== undefined || !msg.data || !msg.dims)
        p.reject(new Error(`encoder ${this.file}: ${msg.error ?? 'no output'}`));
      else p.resolve({ data: msg.data, dims: msg.dims, ms: msg.ms ?? 0 });
    });
    const dead = (why: string) => {
      this.worker = undefined;
      const err = new Error(`encoder thread for ${this.file} ${why}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => dead(`failed: ${err.message}`));
    worker.on('exit', (code) => dead(`exited (code ${code})`));
  }

  /**
   * mel [B, nMels, frames] → last_hidden_state. The mel is copied to the thread (1 MB a window,
   * against 0.5 s of encoding), so the caller keeps it.
   */
  async run(mel: Float32Array, dims: number[]): Promise<Encoded> {
    if (this.released) throw new Error(`encoder thread for ${this.file} released`);
    const generation = Atomics.load(this.generation, 0); // as of the request, not of the start
    const worker = await this.live();
    const id = this.nextId++;
    return new Promise<Encoded>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held while a request is out: an idle thread must not keep the process alive, a busy one must.
      worker.ref();
      worker.postMessage({ id, mel, dims, generation });
    });
  }

  /**
   * Skips the requests made so far that the thread has not started (encodes made ahead for a
   * transcription that was aborted): they reject with "cancelled" instead of delaying the next.
   */
  cancel(): void {
    Atomics.add(this.generation, 0, 1);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.cancel();
    const worker = await this.worker?.catch(() => undefined);
    if (!worker) return;
    worker.postMessage({ release: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
