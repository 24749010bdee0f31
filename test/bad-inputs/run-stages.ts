/**
 * The corpus's workers: runs real activities on every archive of the date, one archive after
 * another, in the SDK's activity environment — in a process of its own, as a worker would, so
 * that its peak RSS is a worker's. Settings come from the environment (lib/config.ts).
 *   cpu-in  extract → convert   (the CPU worker: every hostile tar, parquet and MP3 is parsed here)
 *   gpu     transcribe          (the GPU worker: the Whisper model, and the clips convert passed)
 *   cpu-out store               (the CPU worker again: PostgreSQL)
 * usage: node --import tsx run-stages.ts cpu-in|gpu|cpu-out DATE RESULT.json
 * RESULT.json: { archives: { [name]: { extract?, error?, ms, rssMiB } }, maxRssKiB }; an archive
 * whose earlier stage failed is skipped (its error stays in the earlier result).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConvert } from '../../activities/convert.ts';
import { createExtract, type ExtractSummary } from '../../activities/extract.ts';
import { createListArchives } from '../../activities/list-archives.ts';
import { createStore } from '../../activities/store.ts';
import { createTranscribe } from '../../activities/transcribe.ts';
import { stagingFor } from '../../activities/archive-ref.ts';
import { openDatabase } from '../../db/client.ts';
import { resolveFfmpegPath } from '../../lib/audio/ffmpeg-path.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { stageLocalArchive } from '../../lib/source/local.ts';
import { resolveModelDir } from '../../lib/model-supply/store.ts';
import { WhisperEngine } from '../../lib/whisper/transcribe.ts';

export interface StageResult {
  archives: Record<string, { extract?: ExtractSummary; error?: string; ms: number; rssMiB: number }>;
  maxRssKiB: number;
}

const [mode, date, resultFile] = process.argv.slice(2);
const config = loadConfig();
const logger = createLogger('bad-inputs', 'silent');
const env = () => new MockActivityEnvironment();
const { archives } = (await env().run(createListArchives({ config, logger }).listArchives, { date })) as {
  archives: { name: string }[];
};

type Stage = (ref: { date: string; archive: string }) => Promise<ExtractSummary | undefined>;
let stage: Stage;
let close = async () => {};
if (mode === 'cpu-in') {
  const { extractArchive } = createExtract({ config, logger });
  const { convertClips } = createConvert({ config, logger });
  stage = async (ref) => {
    if (config.source.kind !== 'local') throw new Error('the bad-input corpus runs from a local: SOURCE');
    await stageLocalArchive(config.source.dir, ref.archive, stagingFor(config, ref).archiveFile);
    const extract = (await env().run(extractArchive, ref)) as ExtractSummary;
    await env().run(convertClips, ref);
    return extract;
  };
} else if (mode === 'gpu') {
  let engine: Promise<WhisperEngine> | undefined;
  const { transcribeClips } = createTranscribe({
    config,
    logger,
    modelName: config.whisper.model,
    engine: () =>
      (engine ??= WhisperEngine.load({
        modelDir: resolveModelDir(config.whisper.model, config.whisper.modelCache),
        device: 'cpu',
        compute: config.whisper.compute,
        threads: config.whisper.threads,
        batchSize: config.whisper.batchSize,
        ffmpegPath: resolveFfmpegPath(config.ffmpegPath),
        maxClipSeconds: config.limits.maxClipSeconds,
      })),
  });
  stage = async (ref) => {
    await env().run(transcribeClips, ref);
    return undefined;
  };
  close = async () => (await engine)?.close();
} else {
  const opened = await openDatabase(config);
  const { storeArchive } = createStore({ config, logger, db: opened.db });
  stage = async (ref) => {
    await env().run(storeArchive, ref);
    return undefined;
  };
  close = () => opened.close();
}

const results: StageResult['archives'] = {};
for (const { name } of archives) {
  const ref = { date, archive: name };
  // Later stages run only where extract wrote a manifest (the archive could be read).
  if (mode !== 'cpu-in' && !existsSync(stagingFor(config, ref).manifestFile)) continue;
  const started = Date.now();
  let extract: ExtractSummary | undefined;
  let error: string | undefined;
  try {
    extract = await stage(ref);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  results[name] = {
    extract,
    error,
    ms: Date.now() - started,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
}
await close();
await writeFile(resultFile, JSON.stringify({ archives: results, maxRssKiB: process.resourceUsage().maxRSS }));
