/**
 * Apptainer cannot be installed here (no internet for its base images), so the image definitions
 * are checked against the checkout instead: every path they copy exists, they copy every folder
 * the CLI imports at run time, and what the sbatch scripts run inside them is what they install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const APP = '/opt/audio-pipeline';

interface Definition {
  header: Array<[string, string]>;
  sections: Map<string, string[]>;
}

/** Header `Key: value` lines, then `%section [from stage]` blocks of non-comment lines. */
function parseDefinition(file: string): Definition {
  const header: Array<[string, string]> = [];
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const raw of readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^%(\w+)(?:\s+from\s+(\w+))?$/.exec(line);
    if (section) {
      const name = section[2] ? `${section[1]} from ${section[2]}` : section[1];
      assert.ok(!sections.has(name), `${file}: %${name} twice`);
      current = [];
      sections.set(name, current);
    } else if (current) current.push(line);
    else {
      const kv = /^(\w+):\s*(\S.*)$/.exec(line);
      assert.ok(kv, `${file}: unexpected header line ${JSON.stringify(line)}`);
      header.push([kv[1], kv[2]]);
    }
  }
  return { header, sections };
}

/** The checkout's top-level folders reached by relative imports from the CLI's entry point. */
function runtimeFolders(): Set<string> {
  const seen = new Set<string>();
  const folders = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    folders.add(path.relative(ROOT, file).split(path.sep)[0]);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      assert.ok(existsSync(target), `${path.relative(ROOT, file)} imports missing ${m[1]}`);
      visit(target);
    }
  };
  visit(path.join(ROOT, 'bin', 'audio-pipeline.js'));
  return folders;
}

for (const [file, base] of [
  ['singularity/audio_processing.def', 'nvidia/cuda:'],
  ['singularity/pipeline_utils.def', 'node:20-'],
] as const) {
  test(`${file}: copies what the CLI needs from the checkout and installs the command`, () => {
    const def = parseDefinition(file);
    assert.equal(def.header[0]?.[0], 'Bootstrap', 'the header starts with Bootstrap');
    assert.ok(
      def.header.some(([k, v]) => k === 'From' && v.startsWith(base)),
      `${file} builds on ${base}`,
    );
    const copied = new Map<string, string>();
    for (const line of def.sections.get('files') ?? []) {
      const [source, dest, extra] = line.split(/\s+/);
      assert.equal(extra, undefined, `${file}: one source and one destination per %files line`);
      assert.ok(existsSync(path.join(ROOT, source)), `${file}: %files source ${source} is in the checkout`);
      assert.equal(dest, `${APP}/${source}`, `${file}: ${source} goes to ${APP}/${source}`);
      copied.set(source, dest);
    }
    for (const folder of runtimeFolders()) {
      assert.ok(copied.has(folder), `${file}: the CLI imports from ${folder}/, which the image must copy`);
    }
    for (const needed of ['package.json', 'package-lock.json', '.npmrc', 'db', 'models']) {
      assert.ok(copied.has(needed), `${file} copies ${needed} (npm ci, migrations, model conversion)`);
    }
    const post = (def.sections.get('post') ?? []).join('\n');
    assert.match(post, new RegExp(`cd ${APP}\\n`));
    assert.match(post, /npm ci --omit=dev/);
    const link = /ln -sf (\S+) \/usr\/local\/bin\/audio-pipeline/.exec(post);
    assert.ok(link, `${file} puts audio-pipeline on PATH`);
    assert.ok(link[1].startsWith(`${APP}/`) && copied.has(path.relative(APP, link[1]).split('/')[0]));
    assert.ok(existsSync(path.join(ROOT, path.relative(APP, link[1]))), `${link[1]} comes from the checkout`);
    assert.match((def.sections.get('test') ?? []).join('\n'), /audio-pipeline --help/);
  });
}

test('audio_processing.def: Node from the node stage, CUDA provider, model bound in', () => {
  const def = parseDefinition('singularity/audio_processing.def');
  const stages = def.header.filter(([k]) => k === 'Stage').map(([, v]) => v);
  assert.deepEqual(stages, ['node', 'final']);
  assert.ok(def.sections.get('files from node')?.some((l) => l.startsWith('/usr/local/bin/node ')));
  assert.match((def.sections.get('post') ?? []).join('\n'), /ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci/);
  assert.match(
    (def.sections.get('environment') ?? []).join('\n'),
    /WHISPER_MODEL_CACHE="\$\{WHISPER_MODEL_CACHE:-\/models\}"/,
  );
});

test('build.sh builds both definitions; the sbatch scripts run what the images install', () => {
  const build = readFileSync(path.join(ROOT, 'singularity/build.sh'), 'utf8');
  assert.match(build, /for image in audio_processing pipeline_utils; do/);
  assert.match(build, /"singularity\/\$image\.def"/);
  const gpu = readFileSync(path.join(ROOT, 'slurm/gpu-worker.sbatch'), 'utf8');
  assert.match(
    gpu,
    /singularity exec --nv --bind "\$binds" "\$AUDIO_PIPELINE_SIF" audio-pipeline worker --queue gpu/,
  );
  const cpu = readFileSync(path.join(ROOT, 'slurm/cpu-worker.sbatch'), 'utf8');
  assert.match(cpu, /"\$AUDIO_PIPELINE_SIF" audio-pipeline worker --queue cpu/);
});
