import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/log.ts';
import { ensureModel } from '../../lib/model-supply/ensure.ts';
import { configuredVadModel } from '../../lib/model-supply/vad-asset.ts';
import { gracefulStop } from '../signals.ts';
import {
  segmentTimestampsFor,
  WHISPER_DEVICES,
  WHISPER_SEGMENT_MODES,
  type WhisperDevice,
  type WhisperSegmentMode,
} from '../../lib/whisper/devices.ts';
import { WHISPER_COMPUTE_TYPES, type WhisperCompute } from '../../lib/whisper/compute.ts';
import { LANGUAGES, normalizeLanguage } from '../../lib/whisper/tokenizer.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { integerOption } from '../integer-option.ts';

interface TranscribeCliOptions {
  model?: string;
  language?: string;
  batchSize?: number;
  device?: WhisperDevice;
  compute?: WhisperCompute;
  threads?: number;
  json?: boolean;
  wordTimestamps?: boolean;
  segments?: WhisperSegmentMode;
  /** false with --no-pack; otherwise WHISPER_PACK decides. */
  pack?: boolean;
}

const DEVICES: readonly string[] = WHISPER_DEVICES;

function fmtTime(s: number): string {
  const m = Math.floor(s / 60);
  const sec = s - m * 60;
  return `${String(m).padStart(2, '0')}:${sec.toFixed(2).padStart(5, '0')}`;
}

/** The human-readable block of one transcript. */
export function formatTranscript(r: TranscriptionResult): string {
  const name = LANGUAGES[r.language] ?? r.language;
  const lines = [
    `${r.file}`,
    `  language: ${r.language} (${name}, p=${r.language_prob.toFixed(2)})  duration: ${r.duration_s.toFixed(2)} s`,
  ];
  if (r.no_speech) lines.push('  (no speech)');
  else {
    lines.push(`  text: ${r.text}`);
    for (const s of r.segments) lines.push(`  [${fmtTime(s.start)} → ${fmtTime(s.end)}] ${s.text}`);
  }
  return lines.join('\n') + '\n';
}

/** One JSON line of a transcript (segments with start, end, text, and words when timed). */
export function transcriptJson(r: TranscriptionResult): string {
  return JSON.stringify({
    file: r.file,
    language: r.language,
    language_prob: r.language_prob,
    text: r.text,
    segments: r.segments.map((s) => ({
      start: s.start,
      end: s.end,
      text: s.text,
      ...(s.words ? { words: s.words } : {}),
    })),
    no_speech: r.no_speech,
    duration_s: r.duration_s,
  });
}

/**
 * `audio-pipeline transcribe FILE...`: transcribes audio files with the Whisper engine, outside
 * Temporal. A file that is missing or cannot be decoded gives an error line for that file (and a
 * message on stderr); the others still come out, and the exit code is 1 at the end.
 */
export function registerTranscribeCommand(
  program: Command,
  ctx: { loadConfig(): Config; logger?(): Logger },
): void {
  program
    .command('transcribe')
    .description(
      'Transcribe audio files with Whisper (language detection, timed sentence segments), batched across files.',
    )
    .argument('<files...>', 'audio files (anything ffmpeg decodes)')
    .option('--model <dir|name>', 'model directory or cached model name (default: WHISPER_MODEL)')
    .option('--language <xx>', 'language code or name; default: detected per file (WHISPER_LANGUAGE)')
    .option('--batch-size <n>', '30-second windows per batch (default: WHISPER_BATCH_SIZE)', integerOption())
    .option('--device <device>', `${DEVICES.join('|')} (default: WHISPER_DEVICE)`, (v: string) => {
      if (!DEVICES.includes(v as WhisperDevice))
        throw new InvalidArgumentError(`--device must be one of ${DEVICES.join(', ')}`);
      return v as WhisperDevice;
    })
    .option(
      '--compute <type>',
      `${WHISPER_COMPUTE_TYPES.join('|')} (default: WHISPER_COMPUTE)`,
      (v: string) => {
        if (!(WHISPER_COMPUTE_TYPES as readonly string[]).includes(v))
          throw new InvalidArgumentError(`--compute must be one of ${WHISPER_COMPUTE_TYPES.join(', ')}`);
        return v as WhisperCompute;
      },
    )
    .option(
      '--threads <n>',
      'onnxruntime threads (default: WHISPER_THREADS or one per core)',
      integerOption(),
    )
    .option('--json', 'one JSON object per file on stdout')
    .option(
      '--word-timestamps',
      'time every word: JSON segments gain words [{word, start, end, probability}] (default: WHISPER_WORD_TIMESTAMPS)',
    )
    .option(
      '--segments <mode>',
      `${WHISPER_SEGMENT_MODES.join('|')}: auto (sentences with the VAD, else timestamps), sentences timed by their words (needs the VAD), or Whisper's own timestamp-token segments (default: WHISPER_SEGMENTS or auto)`,
      (v: string) => {
        if (!(WHISPER_SEGMENT_MODES as readonly string[]).includes(v))
          throw new InvalidArgumentError(`expected one of ${WHISPER_SEGMENT_MODES.join(', ')}`);
        return v as WhisperSegmentMode;
      },
    )
    .option(
      '--no-pack',
      'give every clip windows of its own: by default speech chunks of at most 20 s of one language (--language, WHISPER_LANGUAGE, an English-only model, or a 10-s language probe of the clip) share 30-s windows, a second apart, and get their words back by time (WHISPER_PACK)',
    )
    .action(async (files: string[], opts: TranscribeCliOptions) => {
      const config = ctx.loadConfig();
      const language = opts.language ?? config.whisper.language;
      if (language && !normalizeLanguage(language))
        throw new InvalidArgumentError(`unknown language "${language}"`);
      const stopping = gracefulStop();
      let engine: WhisperEngine;
      try {
        const modelDir = await ensureModel(
          config,
          (line) => process.stderr.write(`${line}\n`),
          opts.model ?? config.whisper.model,
          stopping.signal,
        );
        engine = await WhisperEngine.load({
          modelDir,
          device: opts.device ?? config.whisper.device,
          compute: opts.compute ?? config.whisper.compute,
          decoder: config.whisper.decoder,
          threads: opts.threads ?? config.whisper.threads,
          batchSize: opts.batchSize ?? config.whisper.batchSize,
          ffmpegPath: config.ffmpegPath,
          maxClipSeconds: config.limits.maxClipSeconds,
          wordTimestamps: opts.wordTimestamps ?? config.whisper.wordTimestamps,
          segmentTimestamps: segmentTimestampsFor(opts.segments ?? config.whisper.segments),
          packClips: opts.pack === false ? false : config.whisper.pack,
          vadModel: configuredVadModel(config.whisper),
          logger: ctx.logger?.(),
        });
      } catch (err) {
        stopping.release();
        throw err;
      }
      const tty = process.stderr.isTTY === true;
      try {
        const results = await engine.transcribeFiles(files, {
          language,
          signal: stopping.signal,
          onProgress: tty
            ? (done, total) =>
                process.stderr.write(`\rtranscribed ${done}/${total}${done === total ? '\n' : ''}`)
            : undefined,
        });
        let failed = 0;
        for (const r of results) {
          if ('error' in r) {
            failed++;
            process.stdout.write(
              opts.json
                ? JSON.stringify({ file: r.file, error: r.error }) + '\n'
                : `${r.file}\n  error: ${r.error}\n`,
            );
            process.stderr.write(`error: ${r.error}\n`);
          } else {
            process.stdout.write(opts.json ? transcriptJson(r) + '\n' : formatTranscript(r));
          }
        }
        if (failed > 0) process.exitCode = 1;
      } finally {
        stopping.release();
        await engine.close();
      }
    });
}
