import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANGUAGES, normalizeLanguage, Tokenizer } from '../../lib/whisper/tokenizer.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'whisper');

interface Side {
  special: Record<string, number>;
  sot_sequence_de: number[];
  encode: Array<[string, number[]]>;
  non_speech_tokens: number[];
}
// Written by test/fixtures/whisper/make_reference.py from openai-whisper's own tokenizer.
const ref = JSON.parse(readFileSync(path.join(FIX, 'tokenizer_reference.json'), 'utf8')) as {
  languages: Array<[string, string]>;
  multilingual: Side;
  english: Side;
};

test('LANGUAGES lists Whisper languages in token order', () => {
  assert.deepEqual(Object.entries(LANGUAGES), ref.languages);
  assert.equal(normalizeLanguage('German'), 'de');
  assert.equal(normalizeLanguage('es'), 'es');
  assert.equal(normalizeLanguage('castilian'), 'es');
  assert.equal(normalizeLanguage('klingon'), undefined);
});

for (const [model, side] of [
  ['base', 'multilingual'],
  ['tiny.en', 'english'],
] as const) {
  test(`tokenizer of ${model} agrees with openai-whisper's (${side})`, () => {
    const r = ref[side];
    const tok = Tokenizer.fromModelDir(whisperModelDir(model));
    assert.equal(tok.isMultilingual, side === 'multilingual');
    assert.deepEqual(
      {
        eot: tok.eot,
        sot: tok.sot,
        translate: tok.translate,
        transcribe: tok.transcribe,
        sot_lm: tok.sotLm,
        sot_prev: tok.sotPrev,
        no_speech: tok.noSpeech,
        no_timestamps: tok.noTimestamps,
        timestamp_begin: tok.timestampBegin,
      },
      r.special,
    );
    assert.deepEqual(tok.sotSequence('de'), r.sot_sequence_de);
    for (const [text, ids] of r.encode) {
      assert.deepEqual(tok.encode(text), ids, `encode ${JSON.stringify(text)}`);
      assert.equal(tok.decode(ids), text, `decode ${JSON.stringify(text)}`);
    }
    assert.deepEqual(tok.nonSpeechTokens(), r.non_speech_tokens);
    assert.equal(tok.timestampBegin + 1500, tok.vocabSize - 1, '1501 timestamps end the vocabulary');
  });
}

test('multilingual language tokens and UTF-8 across token boundaries', () => {
  const tok = Tokenizer.fromModelDir(whisperModelDir('base'));
  assert.equal(tok.languageCodes.length, 99);
  assert.deepEqual(tok.languageCodes, Object.keys(LANGUAGES).slice(0, 99));
  assert.equal(tok.languageToken('en'), tok.sot + 1);
  assert.equal(tok.languageOf(tok.sot + 3), 'de');
  assert.equal(tok.languageToken('xx'), undefined);
  // "日本語" is split inside multi-byte characters: decode joins the bytes before UTF-8.
  const ids = tok.encode(' 日本語 😀');
  assert.ok(ids.length >= 3);
  assert.equal(tok.decode(ids), ' 日本語 😀');
  const half = tok.decode(ids.slice(0, ids.length - 1));
  assert.ok(half.startsWith(' 日本語'));
  // specials and timestamps are left out of text, shown by decodeWithTimestamps
  const seq = [
    tok.sot,
    tok.languageToken('en') as number,
    tok.transcribe,
    tok.timestampBegin,
    ...tok.encode(' Hi.'),
    tok.timestampBegin + 54,
    tok.eot,
  ];
  assert.equal(tok.decode(seq), ' Hi.');
  assert.equal(
    tok.decodeWithTimestamps(seq),
    '<|startoftranscript|><|en|><|transcribe|><|0.00|> Hi.<|1.08|><|endoftext|>',
  );
});
