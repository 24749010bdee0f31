/**
 * The Whisper engine on the real multilingual `base` model with real (recorded and synthetic)
 * speech. Thresholds come from measurements of this engine on these clips (see the constants).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAudio, SAMPLE_RATE } from '../../lib/whisper/audio.ts';
import { mulberry32 } from '../../lib/random.ts';
import {
  WhisperEngine,
  type TranscriptionError,
  type TranscriptionResult,
} from '../../lib/whisper/transcribe.ts';
import { corpusWer, normalizeForWer, wordErrorRate } from '../../lib/whisper/wer.ts';
import { loadConfig } from '../../lib/config.ts';
import { makeHeldOutClips, type HeldOutClips } from '../fixtures/held-out-audio.ts';
import { childEnv } from '../support/child-env.ts';
import { whisperModelDir } from '../support/whisper-models.ts';
import { writeWav } from '../../lib/audio/wav.ts';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'whisper');
const JFK_TEXT =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';

interface Sentence {
  id: string;
  lang: string;
  text: string;
}
const speech = JSON.parse(readFileSync(path.join(FIX, 'speech.json'), 'utf8')) as Sentence[];
const speechFile = (s: Sentence) => path.join(FIX, `speech-${s.id}.flac`);

/**
 * Highest corpus WER accepted per language: the figure measured by this test (base, fp32, greedy,
 * CPU, these batches) on every sentence of speech.json, plus a margin of 0.10 (5 words in 50).
 * Measured: en 0.053 (10 sentences, 133 words), de 0.235 (4, 51), es 0.175 (4, 63), it 0.208
 * (4, 53); jfk.flac 0. The margin also covers batch composition: decoded in another batch the
 * German sentences scored 0.157. The test prints the figures and checks that every bound stays
 * well below the WER of garbage (the same transcripts given to the wrong sentences, 1.0–1.4), so
 * a decoder that outputs fluent nonsense, or transcripts attached to the wrong clips, fails.
 *
 * fr, pt and nl have no bound: eSpeak's voices for them are beyond the 74M-parameter model
 * (measured fr 0.55, pt 0.70, nl 0.86 on 4 sentences each; fr4 and pt3 are detected as Thai
 * and dropped as non-speech, nl2–4 as Latin/Norwegian), and a bound above those figures would
 * pass on garbage.
 * For fr and pt the test still asserts that the transcripts are far closer to their own
 * sentences than to the others'; nl is printed.
 */
const MAX_WER: Record<string, number> = { en: 0.15, de: 0.34, es: 0.28, it: 0.31 };
/** Languages whose eSpeak speech the model only partly understands (see MAX_WER). */
const WEAK_LANGUAGES = new Set(['fr', 'pt', 'nl']);

/** The transcripts matched to the wrong sentences (each to the next one's): what garbage scores. */
function misassigned(pairs: { reference: string; hypothesis: string }[]) {
  return pairs.map((p, i) => ({
    reference: p.reference,
    hypothesis: pairs[(i + 1) % pairs.length].hypothesis,
  }));
}

function synth(seconds: number, f: (t: number) => number): Float32Array {
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  for (let i = 0; i < out.length; i++) out[i] = f(i / SAMPLE_RATE);
  return out;
}

/** A synthetic tune: a plucked melody, two sustained chord tones and a kick drum. */
function music(seconds: number): Float32Array {
  const mod = (a: number, b: number) => a - b * Math.floor(a / b);
  return synth(seconds, (t) => {
    const melody =
      0.25 *
      Math.sin(2 * Math.PI * t * 440 * 2 ** ((Math.floor(mod(t * 4, 8)) * 2) / 12)) *
      Math.exp(-4 * mod(t, 0.25));
    const root = 2 ** ((Math.floor(mod(t / 2, 4)) * 5) / 12);
    const chord =
      0.15 * Math.sin(2 * Math.PI * t * 220 * root) + 0.1 * Math.sin(2 * Math.PI * t * 330 * root);
    const kick = 0.3 * Math.exp(-30 * mod(t, 0.5)) * Math.sin(2 * Math.PI * 60 * t);
    return melody + chord + kick;
  });
}

const LONG_PARTS: Array<{ file: string; text: string }> = [
  { file: path.join(FIX, 'jfk.flac'), text: JFK_TEXT },
  ...speech
    .filter((s) => /^en\d+$/.test(s.id))
    .sort((a, b) => Number(a.id.slice(2)) - Number(b.id.slice(2)))
    .map((s) => ({ file: speechFile(s), text: s.text })),
];
const GAP_S = 1.2;

describe('WhisperEngine (base)', () => {
  let engine: WhisperEngine;
  let tmp: string;
  const files: Record<string, string> = {};
  let all: string[];
  let heldOut: HeldOutClips;
  /** Sentences spoken over music in the held-out clips: one per language with a WER bound. */
  const OVER_MUSIC = ['en3', 'de2', 'es1', 'it1'];
  const results = new Map<string, TranscriptionResult | TranscriptionError>();
  let batchedMs = 0;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'whisper-test-'));
    files.silence = path.join(tmp, 'silence.wav');
    writeWav(files.silence, new Float32Array(10 * SAMPLE_RATE));
    const rand = mulberry32(42);
    files.noise = path.join(tmp, 'white-noise.wav');
    writeWav(
      files.noise,
      synth(10, () => 0.3 * (2 * rand() - 1)),
    );
    files.music = path.join(tmp, 'music.wav');
    writeWav(files.music, music(15));
    // ~70 s of English: jfk.flac and ten sentences, 1.2 s of silence between them
    const parts = await Promise.all(LONG_PARTS.map((p) => loadAudio(p.file)));
    const gap = Math.round(GAP_S * SAMPLE_RATE);
    const long = new Float32Array(parts.reduce((n, p) => n + p.length, 0) + gap * (parts.length - 1));
    let at = 0;
    for (const p of parts) {
      long.set(p, at);
      at += p.length + gap;
    }
    files.long = path.join(tmp, 'long-70s.wav');
    writeWav(files.long, long);
    files.jfk = path.join(FIX, 'jfk.flac');
    files.missing = path.join(tmp, 'does-not-exist.mp3');
    files.broken = path.join(tmp, 'broken.mp3');
    writeFileSync(files.broken, 'this is not audio');

    heldOut = await makeHeldOutClips(
      tmp,
      loadConfig({}).ffmpegPath,
      Object.fromEntries(OVER_MUSIC.map((id) => [id, speechFile(speech.find((s) => s.id === id)!)])),
    );

    engine = await WhisperEngine.load({
      modelDir: whisperModelDir('base'),
      device: 'cpu',
      threads: os.availableParallelism(),
      batchSize: 16,
    });
    all = [
      ...speech.map(speechFile),
      files.jfk,
      files.silence,
      files.noise,
      files.music,
      files.long,
      files.missing,
      files.broken,
      ...Object.values(heldOut.nonSpeech),
      ...Object.values(heldOut.speechOverMusic),
    ];
    const progress: number[] = [];
    const t0 = Date.now();
    const out = await engine.transcribeFiles(all, {
      onProgress: (done, total) => progress.push(done / total),
    });
    batchedMs = Date.now() - t0;
    out.forEach((r, i) => results.set(all[i], r));
    assert.equal(progress.length, all.length);
    assert.equal(progress.at(-1), 1);
  });

  after(async () => {
    await engine?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const ok = (file: string): TranscriptionResult => {
    const r = results.get(file);
    assert.ok(r, `no result for ${file}`);
    assert.ok(!('error' in r), `${file}: ${'error' in r ? r.error : ''}`);
    return r;
  };

  test('languages are detected for every sentence (for fr, pt, nl: at least one)', (t) => {
    const weak: Record<string, string[]> = {};
    for (const s of speech) {
      const r = ok(speechFile(s));
      if (WEAK_LANGUAGES.has(s.lang)) {
        (weak[s.lang] ??= []).push(`${r.language}${r.no_speech ? ' (no speech)' : ''}`);
        continue;
      }
      assert.equal(r.no_speech, false, `${s.id}: no speech in "${r.text}"`);
      assert.equal(
        r.language,
        s.lang,
        `${s.id}: detected ${r.language} (${r.language_prob}) for "${r.text}"`,
      );
      assert.ok(r.language_prob > 0.25 && r.language_prob <= 1, `${s.id}: language_prob ${r.language_prob}`);
    }
    for (const [lang, detected] of Object.entries(weak)) {
      t.diagnostic(`${lang}: detected as ${detected.join(', ')}`);
      assert.ok(detected.includes(lang), `${lang}: detected as ${detected.join(', ')}`);
    }
  });

  test('word error rate per language, against bounds that garbage cannot meet', (t) => {
    const langs = [...new Set(speech.map((s) => s.lang))];
    const report: string[] = [];
    for (const lang of langs) {
      const pairs = speech
        .filter((s) => s.lang === lang)
        .map((s) => ({ reference: s.text, hypothesis: ok(speechFile(s)).text }));
      const wer = corpusWer(pairs);
      const garbage = corpusWer(misassigned(pairs));
      const words = pairs.reduce((n, p) => n + normalizeForWer(p.reference).length, 0);
      report.push(
        `${lang} ${wer.toFixed(3)} (${pairs.length} sentences, ${words} words; garbage ${garbage.toFixed(2)})`,
      );
      if (lang === 'nl') continue; // printed only (see MAX_WER)
      if (WEAK_LANGUAGES.has(lang)) {
        assert.ok(
          wer < garbage - 0.25,
          `${lang}: WER ${wer.toFixed(3)} is close to garbage ${garbage.toFixed(3)}`,
        );
        continue;
      }
      assert.ok(pairs.length >= 4 && words >= 40, `${lang}: ${pairs.length} sentences, ${words} words`);
      assert.ok(
        MAX_WER[lang] <= 0.5 && MAX_WER[lang] < garbage - 0.5,
        `${lang}: bound ${MAX_WER[lang]} vs garbage ${garbage}`,
      );
      assert.ok(
        wer <= MAX_WER[lang],
        `${lang}: WER ${wer.toFixed(3)} > ${MAX_WER[lang]}: ${pairs.map((p) => p.hypothesis).join(' | ')}`,
      );
    }
    t.diagnostic(`WER ${report.join(', ')}`);
  });

  test('jfk.flac (recorded speech): text, timestamps', (t) => {
    const r = ok(files.jfk);
    const wer = wordErrorRate(JFK_TEXT, r.text);
    t.diagnostic(`jfk WER ${wer.toFixed(3)}: ${r.text}`);
    assert.ok(wer <= 0.1, `WER ${wer}: ${r.text}`);
    assert.equal(r.language, 'en');
    assert.ok(r.language_prob > 0.8);
    assert.equal(r.duration_s, 11);
    assert.ok(r.segments.length >= 1);
    assert.ok(r.segments[0].start < 1);
    const last = r.segments.at(-1)!;
    assert.ok(last.end > 9 && last.end <= 11, `last segment ends at ${last.end}`);
  });

  test('silence, white noise and music give no text', () => {
    for (const name of ['silence', 'noise', 'music']) {
      const r = ok(files[name]);
      assert.equal(r.text, '', `${name}: "${r.text}"`);
      assert.equal(r.no_speech, true, name);
      assert.deepEqual(r.segments, [], name);
    }
    assert.equal(ok(files.music).duration_s, 15);
  });

  test('held-out noise colours and instruments (not used to fit the rules) give no text', () => {
    for (const [name, file] of Object.entries(heldOut.nonSpeech)) {
      const r = ok(file);
      assert.equal(r.text, '', `${name}: "${r.text}"`);
      assert.equal(r.no_speech, true, name);
    }
  });

  test('speech over music keeps its words', (t) => {
    const report: string[] = [];
    for (const [id, file] of Object.entries(heldOut.speechOverMusic)) {
      const s = speech.find((x) => x.id === id)!;
      const r = ok(file);
      const wer = wordErrorRate(s.text, r.text);
      report.push(`${id} ${wer.toFixed(2)}`);
      assert.equal(r.no_speech, false, `${id}: dropped as non-speech`);
      assert.equal(r.language, s.lang, `${id}: detected ${r.language} for "${r.text}"`);
      // measured ≤ 0.31 (de2; en3 and es1 0): the bed costs a few words, never the sentence
      assert.ok(wer <= 0.4, `${id}: WER ${wer.toFixed(2)}: "${r.text}"`);
    }
    t.diagnostic(`speech over music WER: ${report.join(', ')}`);
  });

  test('a 70-second clip: every part transcribed, segments in order, ending near 70 s', () => {
    const r = ok(files.long);
    assert.ok(Math.abs(r.duration_s - 70.2) < 0.5, `duration ${r.duration_s}`);
    const hyp = new Set(normalizeForWer(r.text));
    for (const p of LONG_PARTS) {
      const words = normalizeForWer(p.text);
      const found = words.filter((w) => hyp.has(w)).length / words.length;
      assert.ok(found >= 0.6, `only ${Math.round(found * 100)}% of "${p.text}" in: ${r.text}`);
    }
    assert.ok(r.segments.length >= LONG_PARTS.length / 2, `${r.segments.length} segments`);
    for (let i = 0; i < r.segments.length; i++) {
      const s = r.segments[i];
      assert.ok(s.end >= s.start, `segment ${i} ends before it starts`);
      if (i > 0) assert.ok(s.start >= r.segments[i - 1].start, `segment ${i} starts before segment ${i - 1}`);
      assert.ok(s.text.length > 0);
    }
    const end = r.segments.at(-1)!.end;
    assert.ok(end > 66 && end <= 70.3, `last segment ends at ${end}`);
    assert.ok(
      r.segments.some((s) => s.start > 30),
      'segments after the first window',
    );
    assert.ok(wordErrorRate(LONG_PARTS.map((p) => p.text).join(' '), r.text) < 0.2);
  });

  test('a missing or undecodable file is an error for that file only', () => {
    const missing = results.get(files.missing);
    assert.ok(
      missing && 'error' in missing && missing.error.includes(files.missing),
      JSON.stringify(missing),
    );
    const broken = results.get(files.broken);
    assert.ok(broken && 'error' in broken && broken.error.includes(files.broken), JSON.stringify(broken));
  });

  test('batching does not change results: 16 mixed clips alone vs batched', async (t) => {
    // Batched above with batchSize 16: 16 windows of different clips (and languages) per batch.
    const sample = [
      ...speech.filter((s) => /^(en[12]|de[12]|es[12]|fr[12]|it1|pt1|nl1)$/.test(s.id)).map(speechFile),
      files.jfk,
      files.silence,
      files.noise,
      files.music,
      files.long,
    ].slice(0, 16);
    assert.equal(sample.length, 16);
    const t0 = Date.now();
    for (const file of sample) {
      const [alone] = await engine.transcribeFiles([file]);
      const batched = ok(file);
      assert.ok(!('error' in alone));
      assert.equal(
        alone.text,
        batched.text,
        `${path.basename(file)}: alone "${alone.text}" vs batched "${batched.text}"`,
      );
      assert.equal(alone.language, batched.language);
      assert.deepEqual(
        alone.segments.map((s) => [s.start, s.end, s.text]),
        batched.segments.map((s) => [s.start, s.end, s.text]),
      );
    }
    t.diagnostic(
      `batched: ${all.length} files in ${batchedMs} ms; 16 clips one by one: ${Date.now() - t0} ms`,
    );
  });

  test('a pinned language is used as given', async () => {
    const de = speech.find((s) => s.id === 'de2')!;
    const [r] = await engine.transcribeFiles([speechFile(de)], { language: 'German' });
    assert.ok(!('error' in r));
    assert.equal(r.language, 'de');
    assert.equal(r.language_prob, 1);
    assert.ok(wordErrorRate(de.text, r.text) < 0.3, r.text);
    await assert.rejects(engine.transcribeFiles([speechFile(de)], { language: 'xx' }), /unknown language/);
  });

  test('an aborted signal stops the run, and the engine still works after it', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(engine.transcribeFiles([files.jfk], { signal: ac.signal }), { name: 'AbortError' });
    // Aborted once the run is under way — when its first files are done — not after a guessed delay.
    const mid = new AbortController();
    let abortedAt = 0;
    const run = engine.transcribeFiles([files.jfk, files.long, ...speech.map(speechFile)], {
      signal: mid.signal,
      onProgress: () => {
        if (abortedAt === 0) {
          abortedAt = Date.now();
          mid.abort();
        }
      },
    });
    await assert.rejects(run, { name: 'AbortError' });
    assert.ok(abortedAt > 0, 'aborted after the first file');
    assert.ok(Date.now() - abortedAt < 8000, `abort took ${Date.now() - abortedAt} ms`);
    const [after] = await engine.transcribeFiles([files.jfk]);
    assert.ok(!('error' in after) && wordErrorRate(JFK_TEXT, after.text) <= 0.1);
  });
});

describe('audio-pipeline transcribe (CLI command)', () => {
  test('--json: one line per file, an error line for a missing file, exit code 1', async () => {
    const { spawnSync } = await import('node:child_process');
    const cmd = path.join(
      path.dirname(fileURLToPath(import.meta.url)),
      '..',
      '..',
      'cli',
      'commands',
      'transcribe.ts',
    );
    const script = [
      `import { Command } from 'commander';`,
      `import { registerTranscribeCommand } from ${JSON.stringify(cmd)};`,
      `import { loadConfig } from ${JSON.stringify(path.join(path.dirname(cmd), '..', '..', 'lib', 'config.ts'))};`,
      `const program = new Command('audio-pipeline');`,
      `registerTranscribeCommand(program, { loadConfig: () => loadConfig() });`,
      `await program.parseAsync(JSON.parse(process.env.ARGS), { from: 'user' });`,
    ].join('\n');
    const missing = path.join(os.tmpdir(), 'no-such-clip.mp3');
    const args = [
      'transcribe',
      path.join(FIX, 'speech-es1.flac'),
      missing,
      '--json',
      '--model',
      whisperModelDir('base'),
      '--batch-size',
      '2',
    ];
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: childEnv({ ARGS: JSON.stringify(args), LOG_LEVEL: 'warn' }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 1, run.stderr);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.equal(lines[0].language, 'es');
    assert.deepEqual(Object.keys(lines[0]), [
      'file',
      'language',
      'language_prob',
      'text',
      'segments',
      'no_speech',
      'duration_s',
    ]);
    assert.ok(
      wordErrorRate(
        'Hoy hace buen tiempo. Por la tarde vamos a caminar por el parque.',
        lines[0].text as string,
      ) < 0.3,
    );
    assert.deepEqual(Object.keys((lines[0].segments as object[])[0]), ['start', 'end', 'text']);
    assert.equal(lines[1].file, missing);
    assert.match(lines[1].error as string, /no such file/);
    assert.match(run.stderr, /no-such-clip\.mp3/);
  });
});

describe('decoder graphs', () => {
  test('the split decoder (cross K/V + with-past graphs) computes what the merged one does', async () => {
    const { WhisperModel } = await import('../../lib/whisper/model.ts');
    const { padOrTrim } = await import('../../lib/whisper/audio.ts');
    const { loadMelFilters, logMelSpectrogram } = await import('../../lib/whisper/mel.ts');
    const dir = whisperModelDir('tiny.en');
    const split = await WhisperModel.load({ modelDir: dir, threads: 2 });
    const merged = await WhisperModel.load({ modelDir: dir, threads: 2, decoderMode: 'merged' });
    try {
      assert.equal(split.decoderMode, 'split');
      assert.equal(merged.decoderMode, 'merged');
      const mel = logMelSpectrogram(
        padOrTrim(await loadAudio(path.join(FIX, 'jfk.flac'))),
        loadMelFilters(dir),
      );
      const feats = await split.encode(mel.data, 1);
      const V = split.dims.nVocab;
      // the same greedy tokens from both, and logits within float noise
      let a = await split.decode(new BigInt64Array([50257n]), 1, feats);
      let b = await merged.decode(new BigInt64Array([50257n]), 1, feats);
      const tokens: number[] = [];
      for (let step = 0; step < 12; step++) {
        let maxDiff = 0;
        let best = 0;
        for (let i = 0; i < V; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(a.logits[i] - b.logits[i]));
          if (a.logits[i] > a.logits[best]) best = i;
        }
        assert.ok(maxDiff < 1e-3, `step ${step}: logits differ by ${maxDiff}`);
        tokens.push(best);
        a = await split.decode(new BigInt64Array([BigInt(best)]), 1, feats, a.cache);
        b = await merged.decode(new BigInt64Array([BigInt(best)]), 1, feats, b.cache);
      }
      assert.ok(
        tokens.some((t) => t < 50256),
        `no text tokens: ${tokens.join(',')}`,
      );
    } finally {
      await split.release();
      await merged.release();
    }
  });
});
