/**
 * An archive's staging folder as transcription leaves it, written directly: each clip converted
 * (its Opus bytes given), a manifest, and one transcript line per clip — what the store and
 * upload stages read. For tests of those stages that need no audio.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { sha256File } from '../../lib/file-hash.ts';
import type { ArchiveManifest } from '../../lib/manifest.ts';
import { ArchiveStaging } from '../../lib/staging.ts';

export async function writeTranscribedArchive(
  stagingDir: string,
  date: string,
  archive: string,
  clips: { id: string; opus: Buffer | string; text: string }[],
): Promise<ArchiveStaging> {
  const staging = new ArchiveStaging(stagingDir, date, archive);
  await rm(staging.dir, { recursive: true, force: true });
  await mkdir(staging.opusDir, { recursive: true });
  const manifest: ArchiveManifest = { date, archive, metadataPath: null, refused: [], clips: [] };
  const lines: string[] = [];
  for (const clip of clips) {
    const opus = staging.opusPath(clip.id);
    await writeFile(opus, clip.opus);
    manifest.clips.push({
      id: clip.id,
      date,
      archive,
      sourceName: `${clip.id}.mp3`,
      status: 'converted',
      error: null,
      mp3Path: `/x/${clip.id}.mp3`,
      mp3Bytes: 1,
      opusPath: opus,
      opusBytes: Buffer.byteLength(clip.opus),
      storageUri: null,
      durationS: 1,
      sha256: await sha256File(opus),
      hasMetadata: false,
    });
    lines.push(
      JSON.stringify({
        id: clip.id,
        model: 'tiny.en',
        language: 'en',
        language_prob: 1,
        text: clip.text,
        no_speech: false,
        duration_s: 1,
        segments: [],
      }),
    );
  }
  await writeFile(staging.manifestFile, JSON.stringify(manifest));
  await writeFile(staging.transcriptsFile, lines.map((l) => `${l}\n`).join(''));
  return staging;
}
