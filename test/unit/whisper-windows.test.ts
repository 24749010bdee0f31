/** The order in which the transcription loop batches windows (lib/whisper/windows.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peekBatch, takeBatch, type Chunk, type Clip, type Window } from '../../lib/whisper/windows.ts';

/** A window of a one-chunk clip with `frames` of audio left. */
function window(name: string, frames: number, extra: Partial<Window> = {}): Window {
  const clip = {
    index: 0,
    file: name,
    durationS: 0,
    languageProb: 0,
    chunks: [],
    chunksLeft: 1,
    waiting: [],
    seed: 0,
  } as Clip;
  const chunk = {
    clip,
    offsetS: 0,
    endS: 0,
    contentFrames: frames,
    seek: 0,
    segments: [],
    rawText: '',
  } as Chunk;
  return { chunk, seek: 0, segmentSize: Math.min(frames, 3000), temperatureIndex: 0, tried: [], ...extra };
}
const names = (ws: Window[]) => ws.map((w) => w.chunk.clip.file).sort();

test('a batch takes retries first, then windows encoded ahead, then those with the most audio left', () => {
  const encoding = Promise.resolve(new Float32Array(1));
  const queue = [
    window('long', 9000),
    window('short-encoding', 500, { encoding }),
    window('retry', 100, { temperatureIndex: 1 }),
    window('medium', 4000),
    window('short-encoded', 400, { features: new Float32Array(1) }),
    window('tiny', 50),
  ];
  assert.deepEqual(names(peekBatch(queue, 3)), ['retry', 'short-encoded', 'short-encoding']);
  assert.equal(queue.length, 6, 'peeking takes nothing');
  assert.deepEqual(names(takeBatch(queue, 4)), ['long', 'retry', 'short-encoded', 'short-encoding']);
  assert.deepEqual(names(queue), ['medium', 'tiny'], 'the rest stays queued, in order');
  assert.deepEqual(names(takeBatch(queue, 4)), ['medium', 'tiny']);
});
