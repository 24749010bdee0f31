/**
 * The encoder in a worker thread (lib/whisper/encoder-thread.ts): on the CPU the engine encodes
 * the next batch's windows there while a batch decodes. That must change no result, report a
 * bad graph as an error naming it, and never keep a process alive that forgot to close the
 * engine. With the real tiny.en model and real speech.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { EncoderThread } from '../../lib/whisper/encoder-thread.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/whisper/${name}`, import.meta.url));
// More clips than a batch, so that windows are encoded ahead while a batch decodes.
const CLIPS = [
  'jfk.flac',
  'speech-en1.flac',
  'speech-en2.flac',
  'speech-en3.flac',
  'speech-en4.flac',
  'speech-en5.flac',
].map(fixture);

let threaded: WhisperEngine;
let inline: WhisperEngine;
before(async () => {
  const modelDir = whisperModelDir('tiny.en');
  threaded = await WhisperEngine.load({ modelDir, threads: 2, batchSize: 2 });
  inline = await WhisperEngine.load({ modelDir, threads: 2, batchSize: 2, encoderThread: false });
});
after(async () => {
  await threaded?.close();
  await inline?.close();
});

test('encoding ahead in a thread gives the same transcripts as encoding in the main thread', async () => {
  assert.equal(threaded.model.encodesInThread, true, 'the CPU provider encodes in a thread by default');
  assert.equal(inline.model.encodesInThread, false);
  const a = (await threaded.transcribeFiles(CLIPS)) as TranscriptionResult[];
  const b = (await inline.transcribeFiles(CLIPS)) as TranscriptionResult[];
  assert.equal(threaded.model.stats.encodedWindows, inline.model.stats.encodedWindows);
  for (const [i, r] of a.entries()) {
    assert.ok(!('error' in r), JSON.stringify(r));
    assert.ok(r.text.length > 10, `${CLIPS[i]}: ${r.text}`);
    assert.equal(r.text, b[i].text, CLIPS[i]);
    assert.deepEqual(r.segments, b[i].segments, CLIPS[i]);
  }
});

test('a thread that dies fails what it held and is started again for the next encode', async () => {
  const file = path.join(whisperModelDir('tiny.en'), 'onnx', 'encoder_model.onnx');
  const thread = await EncoderThread.start(file, { intraOpNumThreads: 1 });
  const mel = new Float32Array(80 * 3000);
  try {
    const first = await thread.run(mel, [1, 80, 3000]);
    assert.deepEqual(first.dims, [1, 1500, 384]);
    // Kill the thread while an encode is out: the encode fails (no hang), the next one works.
    const held = thread.run(mel, [1, 80, 3000]);
    const worker = await (thread as unknown as { worker: Promise<Worker> }).worker;
    await worker.terminate();
    await assert.rejects(held, /exited/);
    const again = await thread.run(mel, [1, 80, 3000]);
    assert.deepEqual(again.data, first.data, 'the restarted thread encodes the same');
    // Cancelled while queued: skipped, not run; later requests run.
    const queued = [1, 2, 3].map(() => thread.run(mel, [1, 80, 3000]));
    thread.cancel();
    const outcomes = await Promise.allSettled(queued);
    assert.match(String((outcomes.at(-1) as PromiseRejectedResult).reason), /cancelled/);
    assert.deepEqual((await thread.run(mel, [1, 80, 3000])).data, first.data);
  } finally {
    await thread.release();
  }
});

test('an abort while windows are encoded ahead stops the run; the engine then transcribes as before', async () => {
  const expected = (await threaded.transcribeFiles(CLIPS)) as TranscriptionResult[];
  const ac = new AbortController();
  const aborted = threaded.transcribeFiles(CLIPS, {
    signal: ac.signal,
    onProgress: (done) => {
      if (done === 1) ac.abort(new Error('stop here'));
    },
  });
  await assert.rejects(aborted, /stop here/);
  const after = (await threaded.transcribeFiles(CLIPS)) as TranscriptionResult[];
  assert.deepEqual(
    after.map((r) => r.text),
    expected.map((r) => r.text),
  );
});

test('a graph the thread cannot load is an error naming the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'enc-thread-'));
  try {
    const bad = path.join(dir, 'encoder_model.onnx');
    writeFileSync(bad, 'not an onnx graph');
    await assert.rejects(EncoderThread.start(bad, {}), (err: Error) => {
      assert.match(err.message, /encoder_model\.onnx/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an engine that is never closed does not keep its process alive', () => {
  const modelDir = whisperModelDir('tiny.en');
  const script = `
    const { WhisperEngine } = await import(${JSON.stringify(new URL('../../lib/whisper/transcribe.ts', import.meta.url).href)});
    const engine = await WhisperEngine.load({ modelDir: ${JSON.stringify(modelDir)}, threads: 1 });
    const [r] = await engine.transcribeFiles([${JSON.stringify(CLIPS[0])}]);
    console.log(engine.model.encodesInThread, r.text.length > 0);
  `;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(out.error, undefined, `the process did not exit by itself: ${out.error?.message}`);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), 'true true');
});
