/**
 * The encoder in a child process (lib/whisper/encoder-process.ts): on the CPU the engine encodes
 * the next batch's windows there while a batch decodes. That must change no result, survive the
 * child's death, report a bad graph as an error naming it, never keep a process alive that forgot
 * to close the engine, and never turn a process.exit() during a transcription into a crash (the
 * reason it is not a worker thread). With the real tiny.en model and real speech.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantPids } from '../../lib/child-processes.ts';
import { EncoderProcess } from '../../lib/whisper/encoder-process.ts';
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let aside: WhisperEngine;
let inline: WhisperEngine;
before(async () => {
  const modelDir = whisperModelDir('tiny.en');
  aside = await WhisperEngine.load({ modelDir, threads: 2, batchSize: 2 });
  inline = await WhisperEngine.load({ modelDir, threads: 2, batchSize: 2, encoderProcess: false });
});
after(async () => {
  await aside?.close();
  await inline?.close();
});

test('encoding ahead in a child process gives the same transcripts as encoding in this one', async () => {
  assert.equal(aside.model.encodesInProcess, true, 'the CPU provider encodes in a child process by default');
  assert.equal(inline.model.encodesInProcess, false);
  const a = (await aside.transcribeFiles(CLIPS)) as TranscriptionResult[];
  const b = (await inline.transcribeFiles(CLIPS)) as TranscriptionResult[];
  assert.equal(aside.model.stats.encodedWindows, inline.model.stats.encodedWindows);
  for (const [i, r] of a.entries()) {
    assert.ok(!('error' in r), JSON.stringify(r));
    assert.ok(r.text.length > 10, `${CLIPS[i]}: ${r.text}`);
    assert.equal(r.text, b[i].text, CLIPS[i]);
    assert.deepEqual(r.segments, b[i].segments, CLIPS[i]);
  }
});

test('a child that dies fails what it held and is started again for the next encode', async () => {
  const file = path.join(whisperModelDir('tiny.en'), 'onnx', 'encoder_model.onnx');
  const encoder = await EncoderProcess.start(file, { intraOpNumThreads: 1 });
  const mel = new Float32Array(80 * 3000);
  try {
    const first = await encoder.run(mel, [1, 80, 3000]);
    assert.deepEqual(first.dims, [1, 1500, 384]);
    // the arrays pass through files in a private folder, each removed once read
    assert.ok(encoder.dir.startsWith(existsSync('/dev/shm') ? '/dev/shm/' : tmpdir()), encoder.dir);
    assert.deepEqual(readdirSync(encoder.dir), []);
    // Kill the child while an encode is out (as the OOM killer would): the encode fails, no hang.
    const held = encoder.run(mel, [1, 80, 3000]);
    const pid = (await encoder.pid())!;
    process.kill(pid, 'SIGKILL');
    await assert.rejects(held, /exited \(SIGKILL\)/);
    const again = await encoder.run(mel, [1, 80, 3000]);
    assert.deepEqual(again.data, first.data, 'the restarted child encodes the same');
    assert.notEqual(await encoder.pid(), pid, 'a new child');
    // Cancelled while queued: skipped, not run; later requests run.
    const queued = [1, 2, 3].map(() => encoder.run(mel, [1, 80, 3000]));
    encoder.cancel();
    const outcomes = await Promise.allSettled(queued);
    assert.match(String((outcomes.at(-1) as PromiseRejectedResult).reason), /cancelled/);
    assert.deepEqual((await encoder.run(mel, [1, 80, 3000])).data, first.data);
  } finally {
    const pid = await encoder.pid();
    writeFileSync(path.join(encoder.dir, '7.out'), 'left by a child killed mid-write');
    await encoder.release();
    assert.ok(pid !== undefined && !alive(pid), 'release ends the child');
    assert.equal(
      existsSync(encoder.dir),
      false,
      'and removes its folder, whatever a killed child left there',
    );
  }
});

test('an abort while windows are encoded ahead stops the run; the engine then transcribes as before', async () => {
  const expected = (await aside.transcribeFiles(CLIPS)) as TranscriptionResult[];
  const ac = new AbortController();
  const aborted = aside.transcribeFiles(CLIPS, {
    signal: ac.signal,
    onProgress: (done) => {
      if (done === 1) ac.abort(new Error('stop here'));
    },
  });
  await assert.rejects(aborted, /stop here/);
  const after = (await aside.transcribeFiles(CLIPS)) as TranscriptionResult[];
  assert.deepEqual(
    after.map((r) => r.text),
    expected.map((r) => r.text),
  );
});

test("a folder left by a killed process's encoder is removed by the next one", async () => {
  const root = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const gone = spawnSync('true').pid; // a process that has exited
  const stale = mkdtempSync(path.join(root, `audio-pipeline-encoder-${gone}-`));
  writeFileSync(path.join(stale, '1.mel'), 'x');
  const mine = mkdtempSync(path.join(root, `audio-pipeline-encoder-${process.pid}-`)); // alive: kept
  const file = path.join(whisperModelDir('tiny.en'), 'onnx', 'encoder_model.onnx');
  const encoder = await EncoderProcess.start(file, { intraOpNumThreads: 1 });
  try {
    assert.equal(existsSync(stale), false, `${stale} swept`);
    assert.equal(existsSync(mine), true, 'a live process keeps its folders');
  } finally {
    await encoder.release();
    rmSync(mine, { recursive: true, force: true });
  }
});

test('a graph the child cannot load is an error naming the file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'enc-process-'));
  try {
    const bad = path.join(dir, 'encoder_model.onnx');
    writeFileSync(bad, 'not an onnx graph');
    await assert.rejects(EncoderProcess.start(bad, {}), (err: Error) => {
      assert.match(err.message, /encoder_model\.onnx/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The encoder child processes of this process (node processes running encoder-child.mjs). */
function encoderChildren(): number[] {
  return descendantPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('encoder-child.mjs');
    } catch {
      return false; // ended meanwhile
    }
  });
}

test('an engine whose loading fails after the model leaves no encoder process behind', async () => {
  const before = encoderChildren();
  const dir = mkdtempSync(path.join(tmpdir(), 'enc-process-'));
  try {
    const badVad = path.join(dir, 'silero_vad.onnx');
    writeFileSync(badVad, 'not an onnx graph');
    await assert.rejects(
      WhisperEngine.load({ modelDir: whisperModelDir('tiny.en'), threads: 1, vadModel: badVad }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const deadline = Date.now() + 10_000;
  const left = () => encoderChildren().filter((p) => !before.includes(p));
  while (left().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(left(), [], 'the failed load released its encoder process');
});

test('Ctrl-C (SIGINT) and SIGTERM to the process group leave the encoder working: the parent decides when to stop', async () => {
  const pid = (await aside.model.encoderPid())!;
  process.kill(pid, 'SIGINT');
  process.kill(pid, 'SIGTERM');
  const [r] = (await aside.transcribeFiles([CLIPS[0]!])) as TranscriptionResult[];
  assert.ok(!('error' in r) && r.text.length > 10, JSON.stringify(r));
  assert.equal(await aside.model.encoderPid(), pid, 'the same child, not a restarted one');
});

/** Runs `body` (module code, after loading an engine as `engine`) in a fresh Node process. */
function runWithEngine(body: string) {
  const script = `
    const { WhisperEngine } = await import(${JSON.stringify(new URL('../../lib/whisper/transcribe.ts', import.meta.url).href)});
    const engine = await WhisperEngine.load({ modelDir: ${JSON.stringify(whisperModelDir('tiny.en'))}, threads: 1, batchSize: 2 });
    const clips = ${JSON.stringify(CLIPS)};
    ${body}
  `;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('an engine that is never closed does not keep its process alive', () => {
  const out = runWithEngine(`
    const [r] = await engine.transcribeFiles([clips[0]]);
    console.log(engine.model.encodesInProcess, r.text.length > 0);
  `);
  assert.equal(out.error, undefined, `the process did not exit by itself: ${out.error?.message}`);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), 'true true');
});

test('process.exit() in the middle of a transcription exits with its code, and the child goes too', async () => {
  // Exit while windows are being encoded ahead: the worker thread this replaced aborted the
  // process here (exit 134, "terminate called after throwing an instance of 'Napi::Error'").
  const out = runWithEngine(`
    console.log(await engine.model.encoderPid());
    console.log(engine.model.encoderDir);
    engine.transcribeFiles(clips, { onProgress: (done) => { if (done === 1) process.exit(3); } });
    setTimeout(() => process.exit(4), 60_000);
  `);
  assert.equal(out.error, undefined, out.error?.message);
  assert.equal(out.status, 3, `exit status ${out.status} (signal ${out.signal}): ${out.stderr.slice(-2000)}`);
  assert.doesNotMatch(out.stderr, /Napi::Error|terminate called/);
  const childPid = Number(out.stdout.trim().split('\n')[0]);
  assert.ok(childPid > 0, out.stdout);
  // The child sees its channel close and exits after the run it was in (at most a window).
  const deadline = Date.now() + 10_000;
  while (alive(childPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(childPid), false, `encoder process ${childPid} outlived its parent`);
  const dir = out.stdout.trim().split('\n')[1];
  assert.match(dir, /audio-pipeline-encoder-/);
  assert.equal(existsSync(dir), false, `${dir} is removed when the process exits`);
});
