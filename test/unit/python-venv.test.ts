import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ensureVenv, pipFailureHint } from '../../lib/python-venv.ts';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'python-venv-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('a venv is made once and reused while its requirements stay the same', async () => {
  const venv = path.join(dir, 'venv');
  const lines: string[] = [];
  // No requirement lines: pip has nothing to download, so this runs offline.
  const opts = {
    dir: venv,
    requirements: [] as string[],
    purpose: 'nothing',
    onLog: (l: string) => lines.push(l),
  };
  const py = await ensureVenv(opts);
  assert.equal(py, path.join(venv, 'bin', 'python'));
  assert.ok(existsSync(py));
  assert.ok(lines.some((l) => l.startsWith(`creating a Python virtual environment in ${venv}`)));
  lines.length = 0;
  await ensureVenv(opts);
  assert.deepEqual(lines, [], 'reused without running pip');
  await ensureVenv({ ...opts, requirements: ['# changed pins'] });
  assert.deepEqual(lines, [`installing nothing into ${venv}`], 'a change of requirements installs again');
});

test('a missing interpreter is a clear error', async () => {
  await assert.rejects(
    ensureVenv({
      dir: path.join(dir, 'none'),
      requirements: [],
      purpose: 'tools',
      python: '/nonexistent/python3',
    }),
    /cannot run \/nonexistent\/python3 .*installing tools needs Python/,
  );
});

test("pip's failures are explained", () => {
  assert.match(pipFailureHint(['ERROR: No matching distribution found for x==9']), /not on the index/);
  assert.match(pipFailureHint(['Temporary failure in name resolution']), /could not be reached/);
  assert.equal(pipFailureHint(['something else']), '');
});
