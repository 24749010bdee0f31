// A small process that runs ffmpeg for lib/whisper/audio.ts (AudioLoader).
//
// Why: spawning a child from a process that holds a Whisper model (1–2 GB resident) costs
// ~60 ms of blocked main thread per spawn (fork copies the page tables); this helper is started
// while the parent is still small and spawns every ffmpeg instead. Plain JavaScript so that it
// runs under bare `node`, without the TypeScript loader.
//
// Protocol. stdin: one JSON object per line, {"id", "cmd", "args"} to run a command or
// {"id", "kill": true} to stop one. stdout: per finished command a 16-byte header (uint32 LE id,
// int32 exit code (-1 killed by a signal, -2 could not start), uint32 stderr bytes, uint32 stdout
// bytes) followed by stderr (UTF-8, at most 8 KiB) and stdout.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import process from 'node:process';
import { createInterface } from 'node:readline';

const jobs = new Map();

function finish(id, code, stderr, data) {
  if (!jobs.has(id)) return;
  jobs.delete(id);
  const err = Buffer.from(stderr, 'utf8');
  const head = Buffer.alloc(16);
  head.writeUInt32LE(id, 0);
  head.writeInt32LE(code, 4);
  head.writeUInt32LE(err.length, 8);
  head.writeUInt32LE(data.length, 12);
  process.stdout.write(Buffer.concat([head, err, data]));
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.kill) {
      jobs.get(msg.id)?.kill('SIGKILL');
      return;
    }
    let child;
    try {
      child = spawn(msg.cmd, msg.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      jobs.set(msg.id, null);
      finish(msg.id, -2, String(err && err.message), Buffer.alloc(0));
      return;
    }
    jobs.set(msg.id, child);
    const out = [];
    let stderr = '';
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => {
      if (stderr.length < 8192) stderr += c.toString('utf8');
    });
    child.on('error', (err) => finish(msg.id, -2, `${err.code ?? ''} ${err.message}`, Buffer.alloc(0)));
    child.on('close', (code) => finish(msg.id, code ?? -1, stderr.slice(0, 8192), Buffer.concat(out)));
  })
  .on('close', () => {
    for (const child of jobs.values()) child?.kill('SIGKILL');
    process.exit(0);
  });
