import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { MP3_ARGS } from '../../lib/sample-day/clip-audio.ts';

/**
 * Inputs the audio tests share, written into `dir`: a 3-s 440 Hz MP3 as TikTok delivers them
 * (44.1 kHz stereo, 96 kbps, with a title tag), an empty file and a file of garbage.
 */
export async function writeAudioInputs(
  dir: string,
  ffmpegPath: string,
): Promise<{ mp3: string; empty: string; corrupt: string }> {
  const mp3 = path.join(dir, 'tone.mp3');
  await promisify(execFile)(ffmpegPath, [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3'],
    ...MP3_ARGS(96),
    ...['-metadata', 'title=private title', mp3],
  ]);
  const empty = path.join(dir, 'empty.mp3');
  await writeFile(empty, new Uint8Array(0));
  const corrupt = path.join(dir, 'corrupt.mp3');
  await writeFile(corrupt, Buffer.concat([Buffer.from('not an mp3 file'), Buffer.alloc(4000, 0x41)]));
  return { mp3, empty, corrupt };
}

/** What ffprobe says of a file's streams and container. */
export interface Probe {
  streams: { codec_name: string; channels: number; sample_rate: string }[];
  format: { duration: string; bit_rate: string; tags?: Record<string, string> };
}

export async function probe(file: string): Promise<Probe> {
  const { stdout } = await promisify(execFile)('ffprobe', [
    ...['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file],
  ]);
  return JSON.parse(stdout) as Probe;
}
