/** What the benchmarks share: the Whisper fixture folder, the known texts, and `--name value` flags. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIX = path.join(ROOT, 'test', 'fixtures', 'whisper');
export const JFK_TEXT =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';

/** The value of `--name` on the command line, or `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

/** The English eSpeak sentences of test/fixtures/whisper/speech.json. */
export function englishSpeech(): Array<{ id: string; lang: string; text: string }> {
  return (
    JSON.parse(readFileSync(path.join(FIX, 'speech.json'), 'utf8')) as Array<{
      id: string;
      lang: string;
      text: string;
    }>
  ).filter((s) => s.lang === 'en');
}
