/**
 * Checks a faster-whisper / CTranslate2 Whisper directory before `model import` converts it:
 * every file the converter needs is there and readable, model.bin is a CTranslate2 v6 WhisperSpec
 * file, and the side files agree with it (Mel bins, vocabulary). Reads only model.bin's variable
 * table (positioned reads), never its weights. Every problem is an ImportDirError naming the file
 * and the reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.ts';

/** A directory `model import` cannot use: a bad input, exit code 2. */
export class ImportDirError extends ConfigError {
  override readonly name: string = 'ImportDirError';
}

/** The Mel bin counts Whisper models use (80: tiny … large-v2; 128: large-v3, large-v3-turbo). */
export const SUPPORTED_MEL_BINS: readonly number[] = [80, 128];

export interface Ct2WhisperInfo {
  /** model.bin, or model.bin.part1 … partN in order. */
  modelFiles: string[];
  nMels: number;
  dModel: number;
  vocab: number;
  encoderLayers: number;
  decoderLayers: number;
}

const DTYPE_BYTES: Record<number, number> = { 0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2 };

/** Positioned reads over model.bin or its concatenated parts. */
class PartsReader {
  private readonly fds: number[];
  private readonly sizes: number[];
  pos = 0;

  constructor(readonly files: string[]) {
    this.fds = files.map((f) => fs.openSync(f, 'r'));
    this.sizes = files.map((f) => fs.statSync(f).size);
  }

  get size(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  take(n: number): Buffer {
    if (this.pos + n > this.size)
      throw new Error(`truncated (wanted ${n} bytes at offset ${this.pos}, ${this.size} in all)`);
    const out = Buffer.alloc(n);
    let done = 0;
    let at = this.pos;
    for (let i = 0; i < this.fds.length && done < n; i++) {
      if (at >= this.sizes[i]) {
        at -= this.sizes[i];
        continue;
      }
      const k = Math.min(n - done, this.sizes[i] - at);
      fs.readSync(this.fds[i], out, done, k, at);
      done += k;
      at = 0;
    }
    this.pos += n;
    return out;
  }

  u8 = () => this.take(1).readUInt8(0);
  u16 = () => this.take(2).readUInt16LE(0);
  u32 = () => this.take(4).readUInt32LE(0);
  string(): string {
    const raw = this.take(this.u16());
    if (raw.at(-1) !== 0) throw new Error('a string without its trailing NUL');
    return raw.subarray(0, -1).toString('utf8');
  }

  close(): void {
    this.fds.forEach((fd) => fs.closeSync(fd));
  }
}

function modelFiles(dir: string): string[] {
  const whole = path.join(dir, 'model.bin');
  const parts = fs
    .readdirSync(dir)
    .map((f) => /^model\.bin\.part(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ file: path.join(dir, m[0]), index: Number(m[1]) }))
    .sort((a, b) => a.index - b.index);
  if (fs.existsSync(whole)) {
    if (parts.length > 0)
      throw new ImportDirError(`${dir}: both model.bin and model.bin.part${parts[0].index} are present`);
    return [whole];
  }
  if (parts.length === 0)
    throw new ImportDirError(`${whole}: missing (a CTranslate2 Whisper directory holds model.bin)`);
  parts.forEach((p, i) => {
    if (p.index !== parts[0].index + i || parts[0].index > 1)
      throw new ImportDirError(
        `${p.file}: model.bin parts are not numbered consecutively from 0 or 1 (${parts.map((x) => x.index).join(', ')})`,
      );
  });
  return parts.map((p) => p.file);
}

/** The variable table of a CTranslate2 model.bin: name → dims. */
function readVariables(files: string[]): { spec: string; dims: Map<string, number[]> } {
  const r = new PartsReader(files);
  const where = files.length === 1 ? files[0] : `${files[0]} (+ ${files.length - 1} parts)`;
  try {
    const version = r.u32();
    if (version !== 6)
      throw new Error(`CTranslate2 model.bin version ${version}; version 6 (CTranslate2 ≥ 3) is supported`);
    const spec = r.string();
    if (spec !== 'WhisperSpec')
      throw new Error(`it holds a ${spec}, not a WhisperSpec (not a Whisper model)`);
    r.u32(); // spec revision
    const count = r.u32();
    const dims = new Map<string, number[]>();
    for (let i = 0; i < count; i++) {
      const name = r.string();
      const rank = r.u8();
      const shape = Array.from({ length: rank }, () => r.u32());
      const dtype = r.u8();
      const nbytes = r.u32();
      const per = DTYPE_BYTES[dtype];
      if (per === undefined) throw new Error(`variable ${name}: unknown dtype id ${dtype}`);
      if (shape.reduce((a, b) => a * b, 1) * per !== nbytes)
        throw new Error(`variable ${name}: ${nbytes} bytes do not match its shape [${shape.join(', ')}]`);
      r.pos += nbytes;
      if (r.pos > r.size) throw new Error(`truncated inside variable ${name}`);
      dims.set(name, shape);
    }
    return { spec, dims };
  } catch (err) {
    if (err instanceof ImportDirError) throw err;
    throw new ImportDirError(`${where}: ${(err as Error).message}`);
  } finally {
    r.close();
  }
}

function readJsonFile(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new ImportDirError(`${file}: missing (${what})`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new ImportDirError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function countLayers(dims: Map<string, number[]>, prefix: string): number {
  const ids = new Set<number>();
  for (const name of dims.keys()) {
    const m = new RegExp(`^${prefix}/layer_(\\d+)/`).exec(name);
    if (m) ids.add(Number(m[1]));
  }
  return ids.size;
}

/** Checks `dir` (see the module comment); returns what model.bin says about the model. */
export function checkCt2WhisperDir(dir: string): Ct2WhisperInfo {
  const abs = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ImportDirError(`${abs}: no such directory`);
  }
  if (!st.isDirectory()) throw new ImportDirError(`${abs}: not a directory`);
  const files = modelFiles(abs);
  const { dims } = readVariables(files);
  const need = (name: string, rank: number): number[] => {
    const d = dims.get(name);
    if (!d || d.length !== rank)
      throw new ImportDirError(`${files[0]}: no ${name} of rank ${rank} (not a Whisper model.bin)`);
    return d;
  };
  const [dModel, nMels] = need('encoder/conv1/weight', 3);
  const [vocab] = need('decoder/embeddings/weight', 2);
  if (!SUPPORTED_MEL_BINS.includes(nMels))
    throw new ImportDirError(
      `${files[0]}: the encoder takes ${nMels} Mel bins; Whisper models take ${SUPPORTED_MEL_BINS.join(' or ')}`,
    );
  const info: Ct2WhisperInfo = {
    modelFiles: files,
    nMels,
    dModel,
    vocab,
    encoderLayers: countLayers(dims, 'encoder'),
    decoderLayers: countLayers(dims, 'decoder'),
  };

  readJsonFile(path.join(abs, 'config.json'), "the CTranslate2 model's config");
  const tokenizer = readJsonFile(path.join(abs, 'tokenizer.json'), 'the Hugging Face tokenizer') as {
    added_tokens?: Array<{ id: number; content: string }>;
    model?: { vocab?: unknown };
  };
  const tokFile = path.join(abs, 'tokenizer.json');
  if (!tokenizer?.model?.vocab || !Array.isArray(tokenizer.added_tokens))
    throw new ImportDirError(`${tokFile}: no BPE vocabulary and added_tokens (not a Whisper tokenizer)`);
  for (const special of ['<|endoftext|>', '<|startoftranscript|>', '<|notimestamps|>']) {
    const t = tokenizer.added_tokens.find((x) => x.content === special);
    if (!t)
      throw new ImportDirError(`${tokFile}: special token ${special} missing (not a Whisper tokenizer)`);
    if (t.id >= vocab)
      throw new ImportDirError(
        `${tokFile}: ${special} has id ${t.id}, outside model.bin's vocabulary of ${vocab} (tokenizer of another model)`,
      );
  }
  if (!['vocabulary.json', 'vocabulary.txt'].some((f) => fs.existsSync(path.join(abs, f))))
    throw new ImportDirError(`${path.join(abs, 'vocabulary.json')}: missing (nor vocabulary.txt)`);
  const preFile = path.join(abs, 'preprocessor_config.json');
  if (fs.existsSync(preFile)) {
    const pre = readJsonFile(preFile, 'the feature extractor settings') as { feature_size?: unknown };
    const fsz = pre?.feature_size;
    if (typeof fsz !== 'number' || !SUPPORTED_MEL_BINS.includes(fsz))
      throw new ImportDirError(
        `${preFile}: feature_size ${JSON.stringify(fsz)}; Whisper uses ${SUPPORTED_MEL_BINS.join(' or ')} Mel bins`,
      );
    if (fsz !== nMels)
      throw new ImportDirError(
        `${preFile}: feature_size ${fsz}, but model.bin's encoder takes ${nMels} Mel bins`,
      );
  }
  return info;
}
