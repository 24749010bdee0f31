/**
 * Whisper's tokenizer (openai/whisper `whisper/tokenizer.py`), read from a model folder's Hugging
 * Face `tokenizer.json`: byte-level BPE over the GPT-2 byte alphabet, plus Whisper's special tokens
 * (start of transcript, languages, tasks, no-speech, no-timestamps, 1501 timestamps).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Whisper's languages in token order: the language token of LANGUAGE_CODES[i] is sot + 1 + i. */
export const LANGUAGES: Readonly<Record<string, string>> = Object.freeze({
  en: 'english',
  zh: 'chinese',
  de: 'german',
  es: 'spanish',
  ru: 'russian',
  ko: 'korean',
  fr: 'french',
  ja: 'japanese',
  pt: 'portuguese',
  tr: 'turkish',
  pl: 'polish',
  ca: 'catalan',
  nl: 'dutch',
  ar: 'arabic',
  sv: 'swedish',
  it: 'italian',
  id: 'indonesian',
  hi: 'hindi',
  fi: 'finnish',
  vi: 'vietnamese',
  he: 'hebrew',
  uk: 'ukrainian',
  el: 'greek',
  ms: 'malay',
  cs: 'czech',
  ro: 'romanian',
  da: 'danish',
  hu: 'hungarian',
  ta: 'tamil',
  no: 'norwegian',
  th: 'thai',
  ur: 'urdu',
  hr: 'croatian',
  bg: 'bulgarian',
  lt: 'lithuanian',
  la: 'latin',
  mi: 'maori',
  ml: 'malayalam',
  cy: 'welsh',
  sk: 'slovak',
  te: 'telugu',
  fa: 'persian',
  lv: 'latvian',
  bn: 'bengali',
  sr: 'serbian',
  az: 'azerbaijani',
  sl: 'slovenian',
  kn: 'kannada',
  et: 'estonian',
  mk: 'macedonian',
  br: 'breton',
  eu: 'basque',
  is: 'icelandic',
  hy: 'armenian',
  ne: 'nepali',
  mn: 'mongolian',
  bs: 'bosnian',
  kk: 'kazakh',
  sq: 'albanian',
  sw: 'swahili',
  gl: 'galician',
  mr: 'marathi',
  pa: 'punjabi',
  si: 'sinhala',
  km: 'khmer',
  sn: 'shona',
  yo: 'yoruba',
  so: 'somali',
  af: 'afrikaans',
  oc: 'occitan',
  ka: 'georgian',
  be: 'belarusian',
  tg: 'tajik',
  sd: 'sindhi',
  gu: 'gujarati',
  am: 'amharic',
  yi: 'yiddish',
  lo: 'lao',
  uz: 'uzbek',
  fo: 'faroese',
  ht: 'haitian creole',
  ps: 'pashto',
  tk: 'turkmen',
  nn: 'nynorsk',
  mt: 'maltese',
  sa: 'sanskrit',
  lb: 'luxembourgish',
  my: 'myanmar',
  bo: 'tibetan',
  tl: 'tagalog',
  mg: 'malagasy',
  as: 'assamese',
  tt: 'tatar',
  haw: 'hawaiian',
  ln: 'lingala',
  ha: 'hausa',
  ba: 'bashkir',
  jw: 'javanese',
  su: 'sundanese',
  yue: 'cantonese',
});
export const LANGUAGE_CODES: readonly string[] = Object.freeze(Object.keys(LANGUAGES));

/** Aliases Whisper accepts for `language` (names and a few alternative spellings). */
const LANGUAGE_ALIASES: Record<string, string> = {
  burmese: 'my',
  valencian: 'ca',
  flemish: 'nl',
  haitian: 'ht',
  letzeburgesch: 'lb',
  pushto: 'ps',
  panjabi: 'pa',
  moldavian: 'ro',
  moldovan: 'ro',
  sinhalese: 'si',
  castilian: 'es',
  mandarin: 'zh',
};

/** A language code or name as Whisper accepts it → the code, or undefined. */
export function normalizeLanguage(lang: string): string | undefined {
  const l = lang.trim().toLowerCase();
  if (l in LANGUAGES) return l;
  if (l in LANGUAGE_ALIASES) return LANGUAGE_ALIASES[l];
  return LANGUAGE_CODES.find((c) => LANGUAGES[c] === l);
}

// GPT-2's reversible byte ↔ printable-character map.
const BYTE_TO_CHAR: string[] = new Array(256);
const CHAR_TO_BYTE = new Map<string, number>();
{
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const ch = String.fromCharCode(printable(b) ? b : 256 + extra++);
    BYTE_TO_CHAR[b] = ch;
    CHAR_TO_BYTE.set(ch, b);
  }
}

/** GPT-2 / tiktoken pre-tokenisation pattern (the one Whisper's encodings use). */
const PRETOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

interface TokenizerJson {
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
  model: { type?: string; vocab: Record<string, number>; merges: Array<string | [string, string]> };
}

export interface TokenizerInfo {
  /** From generation_config.json `is_multilingual` (or the vocabulary: 51865+ tokens). */
  isMultilingual: boolean;
  /** Languages the model knows (the count of language tokens: 99, 100 for large-v3). */
  numLanguages: number;
}

export class Tokenizer {
  readonly isMultilingual: boolean;
  readonly eot: number;
  readonly sot: number;
  readonly translate: number;
  readonly transcribe: number;
  readonly sotLm: number;
  readonly sotPrev: number;
  /** `<|nospeech|>` (`<|nocaptions|>` in older vocabularies). */
  readonly noSpeech: number;
  readonly noTimestamps: number;
  /** `<|0.00|>`; timestamp i (0…1500) is timestampBegin + i, i·0.02 s. */
  readonly timestampBegin: number;
  /** Language codes in token order (language i has token sot + 1 + i). */
  readonly languageCodes: readonly string[];
  readonly languageTokens: readonly number[];

  private readonly idToToken: string[] = [];
  private readonly vocab: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly special = new Map<number, string>();
  private readonly specialByContent = new Map<string, number>();
  private readonly bpeCache = new Map<string, number[]>();
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false });
  private nonSpeech?: number[];

  constructor(json: TokenizerJson, info?: Partial<TokenizerInfo>) {
    if (!json.model?.vocab || !json.model.merges)
      throw new Error('tokenizer.json: no BPE model (vocab + merges)');
    this.vocab = new Map(Object.entries(json.model.vocab));
    for (const [tok, id] of this.vocab) this.idToToken[id] = tok;
    json.model.merges.forEach((m, i) => {
      const key = typeof m === 'string' ? m : `${m[0]} ${m[1]}`;
      if (!this.ranks.has(key)) this.ranks.set(key, i);
    });
    for (const t of json.added_tokens ?? []) {
      if (/^<\|.*\|>$/.test(t.content)) {
        this.special.set(t.id, t.content);
        this.specialByContent.set(t.content, t.id);
      }
    }
    const need = (content: string, alt?: string): number => {
      const id = this.specialByContent.get(content) ?? (alt ? this.specialByContent.get(alt) : undefined);
      if (id === undefined) throw new Error(`tokenizer.json: special token ${content} missing`);
      return id;
    };
    this.eot = need('<|endoftext|>');
    this.sot = need('<|startoftranscript|>');
    this.translate = need('<|translate|>');
    this.transcribe = need('<|transcribe|>');
    this.sotLm = need('<|startoflm|>');
    this.sotPrev = need('<|startofprev|>');
    this.noSpeech = need('<|nospeech|>', '<|nocaptions|>');
    this.noTimestamps = need('<|notimestamps|>');
    this.timestampBegin = this.specialByContent.get('<|0.00|>') ?? this.noTimestamps + 1;
    // Language tokens sit between <|startoftranscript|> and <|translate|>.
    const codes: string[] = [];
    const ids: number[] = [];
    for (let id = this.sot + 1; id < this.translate; id++) {
      const m = /^<\|([a-z]{2,3})\|>$/.exec(this.special.get(id) ?? '');
      if (!m)
        throw new Error(
          `tokenizer.json: token ${id} between <|startoftranscript|> and <|translate|> is not a language`,
        );
      codes.push(m[1]);
      ids.push(id);
    }
    const numLanguages = info?.numLanguages ?? codes.length;
    this.languageCodes = codes.slice(0, numLanguages);
    this.languageTokens = ids.slice(0, numLanguages);
    this.isMultilingual = info?.isMultilingual ?? this.eot === 50257;
  }

  /** Reads `tokenizer.json` (and `generation_config.json` when present) from a model folder. */
  static fromModelDir(modelDir: string): Tokenizer {
    const file = path.join(modelDir, 'tokenizer.json');
    if (!existsSync(file)) throw new Error(`${file}: missing (not a Whisper model folder?)`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
    const info: Partial<TokenizerInfo> = {};
    const genFile = path.join(modelDir, 'generation_config.json');
    if (existsSync(genFile)) {
      const gen = JSON.parse(readFileSync(genFile, 'utf8')) as {
        is_multilingual?: boolean;
        lang_to_id?: Record<string, number>;
      };
      if (typeof gen.is_multilingual === 'boolean') info.isMultilingual = gen.is_multilingual;
      if (gen.lang_to_id) info.numLanguages = Object.keys(gen.lang_to_id).length;
    }
    return new Tokenizer(json, info);
  }

  get vocabSize(): number {
    return Math.max(this.idToToken.length, ...this.special.keys()) + 1;
  }

  /** The language token of a code ("en"), or undefined. */
  languageToken(code: string): number | undefined {
    const i = this.languageCodes.indexOf(code);
    return i < 0 ? undefined : this.languageTokens[i];
  }

  /** The code of a language token, or undefined. */
  languageOf(token: number): string | undefined {
    const i = token - this.sot - 1;
    return i >= 0 && i < this.languageCodes.length ? this.languageCodes[i] : undefined;
  }

  /** [sot, language, task] for multilingual models, [sot] for English-only ones. */
  sotSequence(language?: string, task: 'transcribe' | 'translate' = 'transcribe'): number[] {
    if (!this.isMultilingual) return [this.sot];
    const seq = [this.sot];
    if (language) {
      const t = this.languageToken(language);
      if (t === undefined) throw new Error(`unknown language "${language}"`);
      seq.push(t);
    }
    seq.push(task === 'translate' ? this.translate : this.transcribe);
    return seq;
  }

  isTimestamp(id: number): boolean {
    return id >= this.timestampBegin;
  }

  /** Text of the text tokens (ids below <|endoftext|>); special and timestamp tokens are left out. */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= this.eot) continue;
      const tok = this.idToToken[id];
      if (tok === undefined) continue;
      for (const ch of tok) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b !== undefined) bytes.push(b);
      }
    }
    return this.utf8.decode(Uint8Array.from(bytes));
  }

  /** Like decode, with special tokens written out and timestamps as `<|1.08|>`. */
  decodeWithTimestamps(ids: ArrayLike<number>): string {
    let out = '';
    let run: number[] = [];
    const flush = () => {
      if (run.length) out += this.decode(run);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= this.timestampBegin) {
        flush();
        out += `<|${((id - this.timestampBegin) * 0.02).toFixed(2)}|>`;
      } else if (id >= this.eot) {
        flush();
        out += this.special.get(id) ?? `<|${id}|>`;
      } else run.push(id);
    }
    flush();
    return out;
  }

  /** Byte-level BPE encoding of plain text (special-token text is encoded literally). */
  encode(text: string): number[] {
    const out: number[] = [];
    const enc = new TextEncoder();
    for (const m of text.matchAll(PRETOKENIZE)) {
      const piece = m[0];
      let ids = this.bpeCache.get(piece);
      if (!ids) {
        let mapped = '';
        for (const b of enc.encode(piece)) mapped += BYTE_TO_CHAR[b];
        ids = this.bpe(mapped);
        if (this.bpeCache.size < 50000) this.bpeCache.set(piece, ids);
      }
      out.push(...ids);
    }
    return out;
  }

  private bpe(word: string): number[] {
    const direct = this.vocab.get(word);
    if (direct !== undefined) return [direct];
    let parts = Array.from(word);
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = parts[best];
      const b = parts[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(parts[i]);
      }
      parts = merged;
    }
    return parts.map((p) => {
      const id = this.vocab.get(p);
      if (id === undefined) throw new Error(`BPE produced "${p}", which is not in the vocabulary`);
      return id;
    });
  }

  /**
   * Tokens that are (almost) never speech: symbols, brackets, music notes, speaker-turn markers
   * (whisper's Tokenizer.non_speech_tokens). Suppressing them keeps the transcript to words.
   */
  nonSpeechTokens(): number[] {
    if (this.nonSpeech) return this.nonSpeech;
    const symbols = Array.from('"#()*+/:;<=>@[\\]^_`{|}~「」『』');
    symbols.push(...'<< >> <<< >>> -- --- -( -[ (\' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪'.split(' '));
    const misc = Array.from('♩♪♫♬♭♮♯');
    const result = new Set<number>([this.encode(' -')[0], this.encode(" '")[0]]);
    for (const symbol of [...symbols, ...misc]) {
      for (const tokens of [this.encode(symbol), this.encode(' ' + symbol)]) {
        if (tokens.length === 1 || misc.includes(symbol)) result.add(tokens[0]);
      }
    }
    this.nonSpeech = [...result].sort((a, b) => a - b);
    return this.nonSpeech;
  }
}
