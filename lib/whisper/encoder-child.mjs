// The Whisper encoder's onnxruntime session in a child process (lib/whisper/encoder-process.ts).
//
// Why: onnxruntime-node's session.run blocks the calling thread until it returns. In the
// transcribing process the encoder (compute-bound, ~0.5 s a window for base on 2 cores) and the
// decoding loop (memory-bound steps, then the logit filters in JavaScript) would take turns; here
// the next batch's windows are encoded while the current batch decodes. A process, not a worker
// thread: when Node tears a worker thread down at process.exit() during a run, onnxruntime-node
// throws from the dying thread and the whole process aborts (exit 134 instead of the code the
// caller chose); a child process simply sees its channel close and exits after the run.
// Plain JavaScript so that it runs under bare `node`, without the TypeScript loader.
//
// Protocol (IPC, 'advanced' serialization). First message out: {ready: true} or {loadError}.
// In: {file, options} once (InferenceSession.create's arguments); then {id, melFile, dims,
// outFile} to encode, run one at a time in order; {release: true}. Out: {id, dims, ms} once the
// output is in outFile, or {id, error}. The arrays go through files in a private folder of the
// parent's (tmpfs where there is one), the messages stay a few bytes: a 3-MB message is written
// only as this process's event loop turns, and a session run blocks it for the whole window,
// so an output sent by IPC reached the parent one window late (measured: 0.5-1.9 s).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import * as ort from 'onnxruntime-node';

let session;
const queue = [];
let running = false;

// The parent is gone (it exited, crashed or closed us): nothing left to encode for.
process.on('disconnect', () => process.exit(0));
// Ctrl-C and SLURM's SIGTERM reach the whole process group. The parent treats them as "finish
// what you hold, then stop", and that needs its encoder: this process ends when the parent
// releases it or is gone (disconnect above), not on the signal.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

function send(msg) {
  if (process.connected) process.send(msg);
}

async function drain() {
  if (running) return;
  running = true;
  while (queue.length > 0) {
    const { id, melFile, dims, outFile } = queue.shift();
    try {
      const bytes = readFileSync(melFile);
      rmSync(melFile, { force: true });
      const mel = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const t0 = performance.now();
      const out = await session.run({ input_features: new ort.Tensor('float32', mel, dims) });
      const hidden = out.last_hidden_state;
      const data = hidden.data;
      writeFileSync(outFile, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      send({ id, dims: hidden.dims, ms: performance.now() - t0 });
    } catch (err) {
      rmSync(outFile, { force: true }); // a partial output (a full tmpfs)
      send({ id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  running = false;
}

process.on('message', async (msg) => {
  if (msg.file !== undefined) {
    try {
      session = await ort.InferenceSession.create(msg.file, msg.options);
      send({ ready: true });
    } catch (err) {
      send({ loadError: err instanceof Error ? err.message : String(err) });
      process.disconnect();
    }
  } else if (msg.release) {
    await session?.release().catch(() => undefined);
    process.disconnect();
  } else if (msg.id !== undefined) {
    queue.push(msg);
    void drain();
  }
});
