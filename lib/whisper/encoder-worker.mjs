// The Whisper encoder's onnxruntime session in a worker thread (lib/whisper/encoder-thread.ts).
//
// Why: onnxruntime-node's session.run blocks the calling thread until it returns. In the main
// thread the encoder (compute-bound, ~0.5 s a window for base on 2 cores) and the decoding loop
// (memory-bound steps, then the logit filters in JavaScript) would take turns; here the next
// batch's windows are encoded while the current batch decodes. Plain JavaScript so that it runs
// under bare `node`, without the TypeScript loader.
//
// Protocol. workerData: {file, options} (InferenceSession.create's arguments) and generation, an
// Int32Array on a SharedArrayBuffer. Messages in: {id, mel: Float32Array, dims: number[],
// generation}; out: {id, data: Float32Array, dims, ms}, {id, error}, or {id, skipped: true} for a
// request whose generation the parent has moved past (cancelled while queued). The first
// message out is {ready: true} or {loadError}.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

let session;
try {
  session = await ort.InferenceSession.create(workerData.file, workerData.options);
  parentPort.postMessage({ ready: true, inputNames: session.inputNames, outputNames: session.outputNames });
} catch (err) {
  parentPort.postMessage({ loadError: err instanceof Error ? err.message : String(err) });
}

parentPort.on('message', async (msg) => {
  if (msg.release) {
    await session?.release().catch(() => undefined);
    parentPort.close();
    return;
  }
  const { id, mel, dims, generation } = msg;
  if (generation < Atomics.load(workerData.generation, 0)) {
    parentPort.postMessage({ id, skipped: true });
    return;
  }
  try {
    const t0 = performance.now();
    const out = await session.run({ input_features: new ort.Tensor('float32', mel, dims) });
    const hidden = out.last_hidden_state;
    // A copy that owns its buffer, so it can be transferred rather than cloned.
    const data = new Float32Array(hidden.data);
    parentPort.postMessage({ id, data, dims: hidden.dims, ms: performance.now() - t0 }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
