/**
 * The encoder session in a worker thread (lib/whisper/encoder-worker.mjs), so that the encoder
 * runs while the main thread decodes: onnxruntime-node's session.run blocks its thread, and the
 * decoding loop leaves the CPU partly idle (memory-bound steps, single-threaded logit filters).
 * Requests run one at a time, in the order they were made.
 */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';

interface Reply {
  id: number;
  data?: Float32Array;
  dims?: number[];
  ms?: number;
  error?: string;
}

interface Pending {
  resolve: (r: { data: Float32Array; dims: number[]; ms: number }) => void;
  reject: (err: Error) => void;
}

export class EncoderThread {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly file: string,
  ) {
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) worker.unref();
      if (msg.error !== undefined || !msg.data || !msg.dims)
        p.reject(new Error(`encoder ${file}: ${msg.error ?? 'no output'}`));
      else p.resolve({ data: msg.data, dims: msg.dims, ms: msg.ms ?? 0 });
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`encoder thread for ${file} failed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`encoder thread for ${file} exited (code ${code})`)));
  }

  /** Starts the thread and loads `file` in it; rejects with onnxruntime's message if it cannot. */
  static async start(file: string, options: ort.InferenceSession.SessionOptions): Promise<EncoderThread> {
    const script = new URL('./encoder-worker.mjs', import.meta.url);
    // execArgv: [] — the worker is plain JavaScript and needs no loader from the parent.
    const worker = new Worker(script, { workerData: { file, options }, execArgv: [] });
    type First = { ready?: boolean; loadError?: string };
    let onMessage: (m: First) => void = () => undefined;
    let onError: (e: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const first: First = await new Promise<First>((resolve) => {
      onMessage = resolve;
      onError = (e) => resolve({ loadError: e.message });
      onExit = (code) => resolve({ loadError: `encoder thread exited (code ${code}) while loading` });
      worker.once('message', onMessage).once('error', onError).once('exit', onExit);
    });
    // Only this function's own listeners: the Worker keeps internal ones (removeAllListeners
    // would remove them too, and its messages would stop arriving).
    worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    if (!first.ready) {
      await worker.terminate();
      throw new Error(first.loadError ?? 'encoder thread did not start');
    }
    worker.unref();
    return new EncoderThread(worker, file);
  }

  /**
   * mel [B, nMels, frames] → last_hidden_state. The mel is copied to the thread (1 MB a window,
   * against 0.5 s of encoding), so the caller keeps it.
   */
  run(mel: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[]; ms: number }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held while a request is out: an idle thread must not keep the process alive, a busy one must.
      this.worker.ref();
      this.worker.postMessage({ id, mel, dims });
    });
  }

  async release(): Promise<void> {
    if (this.failure) return;
    this.failure = new Error(`encoder thread for ${this.file} released`);
    this.worker.postMessage({ release: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
