import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertToOpus } from '../../lib/audio/convert.ts';
import { resolveFfmpegPath } from '../../lib/audio/ffmpeg-path.ts';
import { BadInputError } from '../../lib/errors.ts';
import { writeAudioInputs } from '../support/audio-files.ts';
import {
  AudioLoader,
  loadAudio,
  N_FRAMES,
  N_SAMPLES,
  padOrTrim,
  SAMPLE_RATE,
} from '../../lib/whisper/audio.ts';
import { ComplexFFT, RealPowerFFT } from '../../lib/whisper/fft.ts';
import { computeMelFilters, loadMelFilters, logMelSpectrogram, melWindow } from '../../lib/whisper/mel.ts';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'whisper');

interface RefCase {
  name: string;
  shape: [number, number];
  mean: number;
  indices: number[];
  values: number[];
}
const ref = JSON.parse(readFileSync(path.join(FIX, 'mel_reference.json'), 'utf8')) as {
  samples: Record<string, number>;
  cases: RefCase[];
};
const official = loadMelFilters(FIX, 80); // mel_filters_80.bin written by make_reference.py

function maxDiffAt(data: Float32Array, c: RefCase): number {
  let mx = 0;
  for (let i = 0; i < c.indices.length; i++) mx = Math.max(mx, Math.abs(data[c.indices[i]] - c.values[i]));
  return mx;
}

function mean(data: Float32Array): number {
  let s = 0;
  for (const v of data) s += v;
  return s / data.length;
}

/** The DFT by its definition, with the angle reduced mod n so that its own error stays small. */
function directDft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++)
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      outRe[k] += re[j] * Math.cos(a) - im[j] * Math.sin(a);
      outIm[k] += re[j] * Math.sin(a) + im[j] * Math.cos(a);
    }
  return [outRe, outIm];
}

test('ComplexFFT equals the direct DFT for sizes of every radix (2, 3, 4, 5) and their mixes', () => {
  let seed = 1;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  for (const n of [2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 25, 30, 60, 200]) {
    const re = Float64Array.from({ length: n }, rand);
    const im = Float64Array.from({ length: n }, rand);
    const outRe = new Float64Array(n);
    const outIm = new Float64Array(n);
    new ComplexFFT(n).transform(re, im, outRe, outIm);
    const [wantRe, wantIm] = directDft(re, im);
    for (let k = 0; k < n; k++) {
      assert.ok(Math.abs(outRe[k] - wantRe[k]) < 1e-12, `n ${n}, bin ${k} (real)`);
      assert.ok(Math.abs(outIm[k] - wantIm[k]) < 1e-12, `n ${n}, bin ${k} (imaginary)`);
    }
  }
  assert.throws(() => new ComplexFFT(14), /must factor into 2, 3, 4, 5/);
});

test('RealPowerFFT gives |rfft|² of a 400-sample frame', () => {
  const frame = Float64Array.from({ length: 400 }, (_, i) => Math.sin(i * 0.37) + 0.25 * Math.cos(i * 1.9));
  const power = new Float64Array(201);
  new RealPowerFFT(400).power(frame, power);
  const [re, im] = directDft(frame, new Float64Array(400));
  for (let k = 0; k <= 200; k++) {
    const want = re[k] ** 2 + im[k] ** 2;
    assert.ok(Math.abs(power[k] - want) <= 1e-9 * Math.max(1, want), `bin ${k}: ${power[k]} vs ${want}`);
  }
});

test('computed Mel filters equal the official ones', () => {
  const computed = computeMelFilters(80);
  assert.equal(computed.length, official.length);
  let mx = 0;
  for (let i = 0; i < official.length; i++) mx = Math.max(mx, Math.abs(official[i] - computed[i]));
  assert.ok(mx < 1e-6, `max diff ${mx}`);
  assert.equal(computeMelFilters(128).length, 128 * 201);
});

test('loadAudio decodes to 16 kHz mono float PCM', async () => {
  const jfk = await loadAudio(path.join(FIX, 'jfk.flac'));
  assert.equal(jfk.length, ref.samples.jfk);
  assert.ok(Math.abs(jfk.length / SAMPLE_RATE - 11) < 0.1);
  let peak = 0;
  for (const v of jfk) peak = Math.max(peak, Math.abs(v));
  assert.ok(peak > 0.1 && peak < 1.5, `peak ${peak}`);
});

test('loadAudio: a missing or undecodable file is an error naming the file', async () => {
  await assert.rejects(loadAudio('/nonexistent/dir/clip.mp3'), /\/nonexistent\/dir\/clip\.mp3/);
  const notAudio = fileURLToPath(import.meta.url); // this test file
  await assert.rejects(
    loadAudio(notAudio),
    (err: Error) => err.message.includes(notAudio) && /cannot decode/.test(err.message),
  );
});

describe('loadAudio on MP3 and Opus, and bad input', () => {
  const ffmpegPath = resolveFfmpegPath(process.env.FFMPEG_PATH);
  let tmp: string;
  let mp3: string; // 3 s of 440 Hz, 44.1 kHz stereo
  let empty: string;
  let corrupt: string;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'whisper-audio-test-'));
    ({ mp3, empty, corrupt } = await writeAudioInputs(tmp, ffmpegPath));
  });

  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('an MP3 decodes to float32 mono 16 kHz', async () => {
    const pcm = await loadAudio(mp3, { ffmpegPath });
    assert.ok(pcm instanceof Float32Array);
    assert.ok(Math.abs(pcm.length - 3 * SAMPLE_RATE) < 1600, `samples ${pcm.length}`);
    let sum = 0;
    let peak = 0;
    for (const v of pcm) {
      sum += v * v;
      peak = Math.max(peak, Math.abs(v));
    }
    assert.ok(peak <= 1.01 && peak > 0.05, `peak ${peak}`);
    assert.ok(Math.sqrt(sum / pcm.length) > 0.03, 'not silent');
  });

  test('the Opus files convert writes decode too', async () => {
    const out = path.join(tmp, 'decode', 'tone.opus');
    await convertToOpus(mp3, out, { ffmpegPath });
    const pcm = await loadAudio(out, { ffmpegPath });
    assert.ok(Math.abs(pcm.length - 3 * SAMPLE_RATE) < 1600, `samples ${pcm.length}`);
  });

  test('undecodable, empty or missing input is BadInputError naming the file', async () => {
    for (const file of [corrupt, empty, path.join(tmp, 'missing.mp3')]) {
      await assert.rejects(
        loadAudio(file, { ffmpegPath }),
        (err: unknown) => err instanceof BadInputError && err.message.includes(file),
        file,
      );
    }
  });
});

for (const c of ref.cases) {
  test(`log-Mel spectrogram matches openai-whisper: ${c.name}`, async () => {
    const pcm = await loadAudio(path.join(FIX, c.name.startsWith('jfk') ? 'jfk.flac' : 'espeak_fox.wav'));
    const mel = c.name.endsWith('_window')
      ? logMelSpectrogram(padOrTrim(pcm), official)
      : logMelSpectrogram(pcm, official, N_SAMPLES);
    assert.deepEqual([mel.nMels, mel.nFrames], c.shape);
    const diff = maxDiffAt(mel.data, c);
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    assert.ok(Math.abs(mean(mel.data) - c.mean) < 1e-5, `mean ${mean(mel.data)} vs ${c.mean}`);
  });
}

test('melWindow slices a whole-clip spectrogram like pad_or_trim(mel[:, seek:seek+size])', () => {
  const nFrames = 4100;
  const data = new Float32Array(80 * nFrames).map((_, i) => i % 997);
  const mel = { data, nMels: 80, nFrames };
  const w = melWindow(mel, 1000, 2500);
  assert.equal(w.length, 80 * N_FRAMES);
  assert.equal(w[0], data[1000]);
  assert.equal(w[5 * N_FRAMES + 2499], data[5 * nFrames + 1000 + 2499]);
  assert.equal(w[5 * N_FRAMES + 2500], 0);
  assert.equal(w[79 * N_FRAMES + 2999], 0);
});

test('AudioLoader (ffmpeg through the helper process) decodes like loadAudio', async () => {
  const loader = new AudioLoader();
  try {
    const [a, b, c] = await Promise.all([
      loader.load(path.join(FIX, 'jfk.flac')),
      loader.load(path.join(FIX, 'espeak_fox.wav')),
      loader.load(path.join(FIX, 'jfk.flac')),
    ]);
    const direct = await loadAudio(path.join(FIX, 'jfk.flac'));
    assert.equal(a.length, direct.length);
    assert.deepEqual(a.subarray(50000, 50100), direct.subarray(50000, 50100));
    assert.equal(b.length, ref.samples.fox);
    assert.equal(c.length, a.length);
    await assert.rejects(loader.load('/nonexistent/x.wav'), /\/nonexistent\/x\.wav: no such file/);
    const notAudio = fileURLToPath(import.meta.url);
    await assert.rejects(
      loader.load(notAudio),
      (err: Error) => err.message.startsWith(notAudio) && /cannot decode/.test(err.message),
    );
    const ac = new AbortController();
    const p = loader.load(path.join(FIX, 'jfk.flac'), ac.signal);
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    assert.equal((await loader.load(path.join(FIX, 'espeak_fox.wav'))).length, ref.samples.fox);
  } finally {
    loader.close();
  }
});
