/**
 * Short clips sharing 30-s windows (lib/whisper/packing.ts), with real models and the VAD: each
 * clip gets the words it said at its own times, as when decoded alone, in fewer encoder windows;
 * the same files make the same packs every run; a noise clip gets no words; and clips whose
 * language is still to be detected are packed after a language probe, one language per pack.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeWav } from '../../lib/audio/wav.ts';
import { loadAudio, SAMPLE_RATE } from '../../lib/whisper/audio.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { normalizeForWer, wordErrorRate } from '../../lib/whisper/wer.ts';
import { ConfigError } from '../../lib/errors.ts';
import { loadConfig } from '../../lib/config.ts';
import { makeHeldOutClips } from '../fixtures/held-out-audio.ts';
import { vadModelFile, whisperModelDir } from '../support/whisper-models.ts';

const FIX = fileURLToPath(new URL('../fixtures/whisper/', import.meta.url));
const speech = JSON.parse(readFileSync(path.join(FIX, 'speech.json'), 'utf8')) as Array<{
  id: string;
  text: string;
}>;
const JFK =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';
/** Seven sentences 0.4 s apart (~36 s): VAD chunks of up to 30 s, the last one short. */
const LONG_IDS = ['en2', 'en4', 'en7', 'en1', 'en3', 'en5', 'en6'];
const CLIPS = [
  ...['en1', 'en3', 'en5'].map((id) => ({ file: `speech-${id}.flac`, text: textOf(id) })),
  { file: 'jfk.flac', text: JFK },
  { file: 'long.wav', text: LONG_IDS.map(textOf).join(' ') },
  ...['en6', 'en8', 'en9', 'en10'].map((id) => ({ file: `speech-${id}.flac`, text: textOf(id) })),
];
function textOf(id: string): string {
  return (speech.find((s) => s.id === id) as { text: string }).text;
}

/** A logger that records the file of every window an engine decoded ('a pack of N clips (…)'). */
function windowLogger(into: string[]) {
  const record = (o: { file?: string }, msg: string) => {
    if (msg === 'whisper window') into.push(o.file ?? '');
  };
  const logger = {
    warnings: 0,
    debug: record,
    info() {},
    warn() {
      logger.warnings++;
    },
    error() {},
  };
  return logger;
}

const windowFiles: string[] = [];
let dir: string;
let files: string[];
let packed: WhisperEngine;
let alone: WhisperEngine;
before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'whisper-packing-'));
  // 6 s of white noise (fixed seed), between the speech clips
  const noise = new Float32Array(6 * SAMPLE_RATE);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    noise[i] = ((x / 2 ** 32) * 2 - 1) * 0.3;
  }
  writeWav(path.join(dir, 'noise.wav'), noise);
  const parts = await Promise.all(LONG_IDS.map((id) => loadAudio(path.join(FIX, `speech-${id}.flac`))));
  const gap = Math.round(0.4 * SAMPLE_RATE);
  const long = new Float32Array(parts.reduce((n, p) => n + p.length + gap, 0));
  parts.reduce((at, p) => (long.set(p, at), at + p.length + gap), 0);
  writeWav(path.join(dir, 'long.wav'), long);
  files = CLIPS.map((c) => path.join(c.file === 'long.wav' ? dir : FIX, c.file));
  files.splice(4, 0, path.join(dir, 'noise.wav'));
  // tiny.en: an English-only model knows every clip's language, so its clips are packed
  const common = { modelDir: whisperModelDir('tiny.en'), threads: 2, vadModel: vadModelFile() };
  packed = await WhisperEngine.load({ ...common, logger: windowLogger(windowFiles) as never });
  alone = await WhisperEngine.load({ ...common, packClips: false });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await packed?.close();
  await alone?.close();
});

const speechOf = (rs: TranscriptionResult[]) => rs.filter((_, i) => i !== 4);

test('packed clips get their own words at their own times, as when decoded alone, in fewer windows', async () => {
  assert.equal(packed.packsClips, true, 'on by default with the VAD and sentence segments');
  assert.equal(alone.packsClips, false);
  const a = (await alone.transcribeFiles(files)) as TranscriptionResult[];
  const windowsAlone = alone.model.stats.encodedWindows;
  const p = (await packed.transcribeFiles(files)) as TranscriptionResult[];
  const windowsPacked = packed.model.stats.encodedWindows;
  assert.ok(packed.packStats.packs >= 2, JSON.stringify(packed.packStats));
  // the short clips, and the last stretch of the long one (its first, of ~30 s, has a window)
  assert.ok(packed.packStats.packedChunks >= CLIPS.length - 1, JSON.stringify(packed.packStats));
  const packWindows = windowFiles.filter((f) => f.startsWith('a pack of'));
  assert.ok(
    packWindows.some((f) => f.includes('long.wav')),
    `the long clip's last chunk in a pack: ${JSON.stringify(windowFiles)}`,
  );
  speechOf(p).forEach((r, i) => {
    const { file, text } = CLIPS[i];
    const solo = speechOf(a)[i];
    assert.equal(r.file, files[i >= 4 ? i + 1 : i]);
    assert.equal(r.language, 'en');
    // the words said in this clip, not its neighbours' (those would score ~1): about as close to
    // its text as alone (a pack's context changes a word or two either way)
    const bound = Math.max(wordErrorRate(text, solo.text) + 0.2, 0.2);
    assert.ok(wordErrorRate(text, r.text) <= bound, `${file}: "${r.text}" (alone: "${solo.text}")`);
    // its segments lie inside the clip, in order, and start and end where its speech does
    assert.ok(r.segments.length > 0, file);
    let last = 0;
    for (const s of r.segments) {
      assert.ok(
        s.start >= last && s.end >= s.start && s.end <= r.duration_s + 0.01,
        `${file}: ${JSON.stringify(s)}`,
      );
      last = s.start;
    }
    assert.ok(
      Math.abs(r.segments[0].start - solo.segments[0].start) < 0.5,
      `${file}: first word at ${r.segments[0].start} s packed, ${solo.segments[0].start} s alone`,
    );
    assert.ok(
      Math.abs(r.segments.at(-1)!.end - solo.segments.at(-1)!.end) < 0.5,
      `${file}: last word ends at ${r.segments.at(-1)!.end} s packed, ${solo.segments.at(-1)!.end} s alone`,
    );
  });
  assert.equal(p[4].text, '', `noise: "${p[4].text}"`);
  assert.equal(a[4].text, '');
  assert.ok(windowsPacked < windowsAlone, `${windowsPacked} windows packed, ${windowsAlone} alone`);
  // the same files make the same packs and the same texts again
  const again = (await packed.transcribeFiles(files)) as TranscriptionResult[];
  assert.deepEqual(
    again.map((r) => r.text),
    p.map((r) => r.text),
  );
});

test('noise, instruments and an unreadable file among packed clips: no words, an error naming the file, the rest packed', async () => {
  const held = await makeHeldOutClips(dir, loadConfig().ffmpegPath, {});
  const nonSpeech = Object.values(held.nonSpeech);
  const missing = path.join(dir, 'missing.mp3');
  const ids = ['en2', 'en4', 'en7', 'en9'];
  // speech, a missing file, then non-speech and speech in turn
  const list = [path.join(FIX, 'speech-en2.flac'), missing];
  nonSpeech.forEach((f, i) =>
    list.push(f, ...(ids[i + 1] ? [path.join(FIX, `speech-${ids[i + 1]}.flac`)] : [])),
  );
  windowFiles.length = 0;
  const out = await packed.transcribeFiles(list);
  const solo = (await alone.transcribeFiles(list)) as TranscriptionResult[];
  assert.equal(out.length, list.length);
  out.forEach((r, i) => {
    const file = list[i];
    if (file === missing) {
      assert.ok('error' in r && r.file === missing, JSON.stringify(r));
      return;
    }
    assert.ok(!('error' in r), JSON.stringify(r));
    assert.equal(r.file, file);
    const id = /speech-(en\d+)/.exec(file)?.[1];
    const bound = Math.max(wordErrorRate(textOf(id ?? 'en1'), solo[i].text) + 0.2, 0.2);
    if (id)
      assert.ok(wordErrorRate(textOf(id), r.text) <= bound, `${id}: "${r.text}" (alone "${solo[i].text}")`);
    else assert.equal(r.text, '', `${path.basename(file)}: "${r.text}"`);
  });
  assert.ok(packed.packStats.packs >= 1, JSON.stringify(packed.packStats));
});

test('clips whose language is to be detected are probed, then packed with clips of their language only', async () => {
  const packWindows: string[] = [];
  const logger = windowLogger(packWindows);
  const common = { modelDir: whisperModelDir('base'), threads: 2, vadModel: vadModelFile() };
  const base = await WhisperEngine.load({ ...common, logger: logger as never });
  const solo = await WhisperEngine.load({ ...common, packClips: false });
  try {
    assert.equal(base.probesLanguage, true, 'a multilingual model probes');
    const ids = ['en1', 'de1', 'en2', 'de2', 'fr1', 'en3'];
    const list = ids.map((id) => path.join(FIX, `speech-${id}.flac`));
    const r = (await base.transcribeFiles(list)) as TranscriptionResult[];
    const a = (await solo.transcribeFiles(list)) as TranscriptionResult[];
    // the probe finds each clip's language as its own window does
    assert.deepEqual(
      r.map((x) => x.language),
      a.map((x) => x.language),
    );
    assert.deepEqual(
      r.map((x) => x.language),
      ['en', 'de', 'en', 'de', 'fr', 'en'],
    );
    assert.equal(base.packStats.probes, ids.length, JSON.stringify(base.packStats));
    // English and German packs; the lone French clip has a window of its own
    assert.equal(base.packStats.packs, 2, JSON.stringify(base.packStats));
    assert.equal(base.packStats.packedChunks, 5, JSON.stringify(base.packStats));
    const packs = packWindows.filter((f) => f.startsWith('a pack of'));
    assert.equal(packs.length, 2, JSON.stringify(packWindows));
    for (const pack of packs) {
      const languages = new Set(
        ids.filter((id) => pack.includes(`speech-${id}.flac`)).map((id) => id.slice(0, 2)),
      );
      assert.equal(languages.size, 1, `one language per pack: ${pack}`);
    }
    r.forEach((x, i) => {
      const text = (speech.find((s) => s.id === ids[i]) as { text: string }).text;
      const bound = Math.max(wordErrorRate(text, a[i].text) + 0.2, 0.25);
      assert.ok(wordErrorRate(text, x.text) <= bound, `${ids[i]}: "${x.text}" (alone: "${a[i].text}")`);
      assert.ok(x.language_prob > 0.5, `${ids[i]}: ${x.language} at ${x.language_prob}`);
    });
    // a tight memory bound: the oldest open pack closes first, every clip still gets its words
    const tight = (await base.transcribeFiles(list, { maxBufferedSeconds: 80 })) as TranscriptionResult[];
    assert.deepEqual(
      tight.map((x) => x.language),
      r.map((x) => x.language),
    );
    tight.forEach((x, i) => assert.ok(normalizeForWer(x.text).length >= 5, `${ids[i]}: "${x.text}"`));
    assert.ok(base.peakBufferedSeconds <= 80 + 3 * 40, `${base.peakBufferedSeconds} s held`);
    // pinned, no probe
    await base.transcribeFiles(
      list.filter((_, i) => ids[i].startsWith('en')),
      { language: 'en' },
    );
    assert.deepEqual(base.packStats, { packs: 1, packedChunks: 3, decodedAlone: 0, probes: 0 });
    // An encoder that takes 30-s windows only (as one made elsewhere might): the probe's failure
    // is logged once, and the clips are decoded as without packing, each detecting its language.
    const encode = base.model.encode.bind(base.model);
    base.model.encode = (mel, batch) =>
      mel.length / batch / base.model.dims.nMels === 3000
        ? encode(mel, batch)
        : Promise.reject(
            new Error('Got invalid dimensions for input: input_features index: 2 Got: 1000 Expected: 3000'),
          );
    const warnings = logger.warnings;
    const again = (await base.transcribeFiles(list.slice(0, 4))) as TranscriptionResult[];
    assert.deepEqual(
      again.map((x) => x.language),
      ['en', 'de', 'en', 'de'],
    );
    assert.match(base.probeFailure ?? '', /Expected: 3000/);
    assert.deepEqual(base.packStats, { packs: 0, packedChunks: 0, decodedAlone: 0, probes: 0 });
    assert.equal(logger.warnings, warnings + 1);
    await base.transcribeFiles(list.slice(0, 2));
    assert.equal(logger.warnings, warnings + 1, 'not tried again');
  } finally {
    await base.close();
    await solo.close();
  }
});

test('packing asked for where segments come from timestamp tokens is a configuration error', async () => {
  await assert.rejects(
    WhisperEngine.load({
      modelDir: whisperModelDir('tiny.en'),
      threads: 1,
      vadModel: vadModelFile(),
      segmentTimestamps: true,
      packClips: true,
    }),
    (err: unknown) => err instanceof ConfigError && /WHISPER_PACK=1/.test(err.message),
  );
});
