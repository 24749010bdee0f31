import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

/**
 * DESIGN.md §5: `FFMPEG_PATH`, else `ffmpeg-static` where its binary installed (it is an optional
 * dependency whose download fails offline), else `ffmpeg` on PATH.
 */
export function resolveFfmpegPath(configured?: string): string {
  if (configured) return configured;
  try {
    const staticPath = createRequire(import.meta.url)('ffmpeg-static') as string | null;
    if (staticPath && existsSync(staticPath)) return staticPath;
  } catch {
    // not installed: fall through to PATH
  }
  return 'ffmpeg';
}
