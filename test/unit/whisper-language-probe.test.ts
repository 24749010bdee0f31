/** The language probe's input (lib/whisper/language-probe.ts): a chunk's first 10 s, band by band. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N_FRAMES } from '../../lib/whisper/audio.ts';
import { PROBE_FRAMES, probeInput } from '../../lib/whisper/language-probe.ts';

test("a probe holds the first PROBE_FRAMES of every Mel band, audio then the chunk's own padding", () => {
  const nMels = 3;
  const content = 400; // 4 s of audio: the probe's other 6 s are the chunk's silence padding
  const nFrames = content + N_FRAMES;
  const data = new Float32Array(nMels * nFrames);
  for (let m = 0; m < nMels; m++)
    for (let t = 0; t < nFrames; t++) data[m * nFrames + t] = t < content ? m * 10000 + t : -(m + 1);
  const input = probeInput({ data, nMels, nFrames });
  assert.equal(PROBE_FRAMES, 1000);
  assert.equal(input.length, nMels * PROBE_FRAMES);
  for (let m = 0; m < nMels; m++) {
    const band = input.subarray(m * PROBE_FRAMES, (m + 1) * PROBE_FRAMES);
    assert.equal(band[0], m * 10000);
    assert.equal(band[content - 1], m * 10000 + content - 1);
    assert.equal(band[content], -(m + 1), `band ${m}: padding after the audio`);
    assert.equal(band[PROBE_FRAMES - 1], -(m + 1));
  }
});

test('a spectrogram shorter than a probe is an error, not a short read', () => {
  assert.throws(
    () => probeInput({ data: new Float32Array(2 * 500), nMels: 2, nFrames: 500 }),
    /needs 1000 mel frames, the chunk has 500/,
  );
});
