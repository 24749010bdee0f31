/**
 * ffmpeg against hostile clips (issue 7, items 4, 5 and 13; issue 6, item 5): a "clip" that is an
 * HLS playlist naming another local file must fail, not convert that file; a clip longer than
 * MAX_CLIP_SECONDS fails alone after bounded work, in convert and in the transcriber's decoder;
 * both classify failures alike (a full disk is retryable in both); ffmpeg and xz never see the
 * worker's secrets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { extractArchive } from '../../lib/archive/extract.ts';
import { convertToOpus } from '../../lib/audio/convert.ts';
import { resolveFfmpegPath } from '../../lib/audio/ffmpeg-path.ts';
import { ffmpegFailure } from '../../lib/audio/run-ffmpeg.ts';
import { BadInputError } from '../../lib/errors.ts';
import { AudioLoader, loadAudio } from '../../lib/whisper/audio.ts';
import { writeAudioInputs } from '../support/audio-files.ts';

const run = promisify(execFile);
const ffmpegPath = resolveFfmpegPath(process.env.FFMPEG_PATH);
let tmp: string;
let mp3: string; // 3 s of tone
let secret: string; // the file a playlist points at

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ffmpeg-hostile-'));
  ({ mp3 } = await writeAudioInputs(tmp, ffmpegPath));
  secret = path.join(tmp, 'secret.mp3');
  await run(ffmpegPath, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=880:duration=5', secret]);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A file named .mp3 that is an HLS playlist of `target`. */
async function playlist(name: string, target: string): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(
    file,
    ['#EXTM3U', '#EXT-X-TARGETDURATION:10', '#EXTINF:5,', target, '#EXT-X-ENDLIST', ''].join('\n'),
  );
  return file;
}

describe('a clip that is an HLS playlist pointing at another local file', () => {
  for (const target of ['secret.mp3', 'SECRET_ABSOLUTE']) {
    test(`fails in convert and in the transcriber (${target === 'secret.mp3' ? 'relative' : 'absolute'} path)`, async () => {
      const evil = await playlist(`evil-${target.length}.mp3`, target === 'secret.mp3' ? target : secret);
      await assert.rejects(
        convertToOpus(evil, path.join(tmp, 'out', 'evil.opus'), { ffmpegPath }),
        (err: unknown) => err instanceof BadInputError && err.message.startsWith(evil),
      );
      await assert.rejects(
        loadAudio(evil, { ffmpegPath }),
        (err: unknown) => err instanceof BadInputError && /cannot decode audio/.test(err.message),
      );
    });
  }
});

describe('MAX_CLIP_SECONDS', () => {
  let long: string; // 12 s
  before(async () => {
    long = path.join(tmp, 'long.mp3');
    await run(ffmpegPath, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=300:duration=12',
      '-ac',
      '1',
      long,
    ]);
  });

  test('convert: a longer clip fails with the limit as its reason; a shorter one converts', async () => {
    await assert.rejects(
      convertToOpus(long, path.join(tmp, 'out', 'long.opus'), { ffmpegPath, maxClipSeconds: 5 }),
      (err: unknown) =>
        err instanceof BadInputError && /longer than the limit of 5 s \(MAX_CLIP_SECONDS\)/.test(err.message),
    );
    const ok = await convertToOpus(mp3, path.join(tmp, 'out', 'short.opus'), {
      ffmpegPath,
      maxClipSeconds: 5,
    });
    assert.ok(Math.abs(ok.durationS - 3) < 0.1, `${ok.durationS} s`);
  });

  test('convert encodes at most the limit plus a second (-t), whatever the clip says', async () => {
    // A 1-hour clip of silence: without -t this takes tens of seconds.
    const hour = path.join(tmp, 'hour.mp3');
    await run(ffmpegPath, [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '3600'],
      ...['-c:a', 'libmp3lame', '-b:a', '8k', hour],
    ]);
    const started = Date.now();
    await assert.rejects(
      convertToOpus(hour, path.join(tmp, 'out', 'hour.opus'), { ffmpegPath, maxClipSeconds: 5 }),
      /longer than the limit of 5 s/,
    );
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
  });

  test('the transcriber’s decoder refuses a longer file, directly and through its helper', async () => {
    await assert.rejects(
      loadAudio(long, { ffmpegPath, maxSeconds: 5 }),
      (err: unknown) => err instanceof BadInputError && /longer than the limit of 5 s/.test(err.message),
    );
    const loader = new AudioLoader({ ffmpegPath, maxSeconds: 5 });
    try {
      await assert.rejects(loader.load(long), /longer than the limit of 5 s/);
      assert.ok((await loader.load(mp3)).length > 2.9 * 16000);
    } finally {
      loader.close();
    }
  });
});

test('one classification: machine trouble is retryable, the input’s fault is BadInputError', () => {
  const disk = ffmpegFailure(
    { code: 1, stderr: 'Error writing trailer: No space left on device' },
    '/a.mp3',
    'ffmpeg',
  );
  assert.ok(!(disk instanceof BadInputError) && /No space left/.test(disk.message));
  const killed = ffmpegFailure({ code: null, signal: 'SIGKILL', stderr: '' }, '/a.mp3', 'ffmpeg');
  assert.ok(!(killed instanceof BadInputError));
  const missing = ffmpegFailure({ code: null, spawnError: 'spawn x ENOENT', stderr: '' }, '/a.mp3', 'x');
  assert.ok(!(missing instanceof BadInputError) && /cannot run ffmpeg/.test(missing.message));
  const bad = ffmpegFailure(
    { code: 1, stderr: 'Invalid data found when processing input' },
    '/a.mp3',
    'ffmpeg',
  );
  assert.ok(
    bad instanceof BadInputError && bad.message === '/a.mp3: Invalid data found when processing input',
  );
});

test('the decoder’s full disk is retryable as convert’s is (same runner)', async () => {
  // An "ffmpeg" that fails as a full disk does: before, the decoder called it bad input.
  const fake = path.join(tmp, 'ffmpeg-disk-full.sh');
  await writeFile(
    fake,
    '#!/bin/sh\necho "av_interleaved_write_frame(): No space left on device" >&2\nexit 1\n',
  );
  await chmod(fake, 0o755);
  for (const attempt of [
    loadAudio(mp3, { ffmpegPath: fake }),
    convertToOpus(mp3, path.join(tmp, 'out', 'x.opus'), { ffmpegPath: fake }),
  ]) {
    await assert.rejects(attempt, (err: unknown) => err instanceof Error && !(err instanceof BadInputError));
  }
});

test('ffmpeg and xz run without the worker’s environment (no DATABASE_URL, no tokens)', async () => {
  const envDump = path.join(tmp, 'child-env.txt');
  const wrap = async (name: string, real: string) => {
    const file = path.join(tmp, name);
    await writeFile(file, `#!/bin/sh\nenv >> '${envDump}'\nexec ${real} "$@"\n`);
    await chmod(file, 0o755);
    return file;
  };
  const secretUrl = 'postgres://user:hunter2@db/x';
  // The worker's environment holds secrets; its children must not inherit them.
  process.env.DATABASE_URL = secretUrl;
  process.env.MONITOR_TOKEN = 'token-hunter2-token';
  try {
    const ffmpeg = await wrap('ffmpeg-env.sh', ffmpegPath);
    await convertToOpus(mp3, path.join(tmp, 'out', 'env.opus'), { ffmpegPath: ffmpeg });
    await loadAudio(mp3, { ffmpegPath: ffmpeg });
    const loader = new AudioLoader({ ffmpegPath: ffmpeg });
    await loader.load(mp3).finally(() => loader.close());
    const archive = path.join(tmp, 'env.tar.xz');
    await run('tar', ['-C', tmp, '-cJf', archive, 'tone.mp3']);
    await extractArchive(archive, path.join(tmp, 'env-out'), {
      maxEntryBytes: 1e7,
      maxTotalBytes: 1e8,
      xzPath: await wrap('xz-env.sh', 'xz'),
    });
  } finally {
    delete process.env.DATABASE_URL;
    delete process.env.MONITOR_TOKEN;
  }
  const dumped = await readFile(envDump, 'utf8');
  assert.equal(dumped.match(/^PATH=/gm)?.length, 4, 'four children ran: convert, decode, helper decode, xz');
  assert.doesNotMatch(dumped, /hunter2|DATABASE_URL|MONITOR_TOKEN/);
});
