import { BadInputError } from '../errors.ts';
import { checkInputFile, ffmpegFileArg, runFfmpeg } from './run-ffmpeg.ts';

export const SAMPLE_RATE = 16000;

/**
 * Decodes any audio file ffmpeg can read to 32-bit float PCM, mono, 16 kHz (what Whisper's
 * feature extractor expects), streamed through a pipe. Missing, empty or undecodable input, or
 * input that decodes to no samples, throws BadInputError naming the file.
 */
export async function decodePcm16k(
  file: string,
  ffmpegPath: string,
  options: { signal?: AbortSignal } = {},
): Promise<Float32Array> {
  await checkInputFile(file);
  const chunks: Buffer[] = [];
  let length = 0;
  await runFfmpeg(
    ffmpegPath,
    [
      '-nostdin',
      '-hide_banner',
      '-v',
      'error',
      '-i',
      ffmpegFileArg(file),
      '-vn',
      '-map_metadata',
      '-1',
      '-ac',
      '1',
      '-ar',
      String(SAMPLE_RATE),
      '-c:a',
      'pcm_f32le',
      '-f',
      'f32le',
      'pipe:1',
    ],
    file,
    {
      signal: options.signal,
      onStdout: (chunk) => {
        chunks.push(chunk);
        length += chunk.length;
      },
    },
  );
  const samples = Math.floor(length / 4);
  if (samples === 0) throw new BadInputError('no audio could be decoded', file);
  // Copy into a fresh, aligned buffer: pipe chunks may sit at odd offsets of a shared pool.
  const out = new Float32Array(samples);
  const bytes = new Uint8Array(out.buffer);
  let at = 0;
  for (const chunk of chunks) {
    const n = Math.min(chunk.length, bytes.length - at);
    bytes.set(chunk.subarray(0, n), at);
    at += n;
  }
  return out;
}
