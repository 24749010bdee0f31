/**
 * Two archives of one date holding the same video id share its row and its stored file
 * (`<root>/YYYY/MM/DD/<id>.opus`). Whatever order their store and upload stages interleave in,
 * one archive — the lexicographically later one — ends up owning the row, the metadata, the
 * transcript and the file: never one archive's audio under the other's row. Runs the real store
 * and upload activities against a real PostgreSQL and a local storage root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStore } from '../../activities/store.ts';
import { createUpload } from '../../activities/upload.ts';
import { migrate } from '../../db/migrate.ts';
import { loadConfig } from '../../lib/config.ts';
import { sha256File } from '../../lib/file-hash.ts';
import { createLogger } from '../../lib/log.ts';
import { makeTempDir, startEmbeddedTestPostgres } from '../support/postgres.ts';
import { writeTranscribedArchive } from '../support/staged-archive.ts';

const DATE = '2024-08-09';
const EARLY = '2024-08-09_00-00';
const LATE = '2024-08-09_00-10';
const SHARED = '7318273645512999001';

let pg: Awaited<ReturnType<typeof startEmbeddedTestPostgres>>;
let dataDir: string;

before(async () => {
  pg = await startEmbeddedTestPostgres();
  await migrate(pg.opened.db);
  dataDir = await makeTempDir('audio-pipeline-winner-');
});
after(async () => {
  await pg?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** An archive's staging folder as transcription leaves it: the shared clip converted, its transcript. */
async function stageArchive(config: ReturnType<typeof loadConfig>, archive: string): Promise<void> {
  await writeTranscribedArchive(config.stagingDir, DATE, archive, [
    { id: SHARED, opus: `Opus bytes of ${archive}`, text: `said in ${archive}` },
  ]);
}

test('one archive owns a shared video id, its transcript and its stored file, in every interleaving', async () => {
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const ctx = { config, logger: createLogger('test', 'silent'), db: pg.opened.db };
  const { storeArchive } = createStore(ctx);
  const { uploadClips } = createUpload(ctx);
  const step = {
    storeEarly: () => new MockActivityEnvironment().run(storeArchive, { date: DATE, archive: EARLY }),
    storeLate: () => new MockActivityEnvironment().run(storeArchive, { date: DATE, archive: LATE }),
    uploadEarly: () => new MockActivityEnvironment().run(uploadClips, { date: DATE, archive: EARLY }),
    uploadLate: () => new MockActivityEnvironment().run(uploadClips, { date: DATE, archive: LATE }),
  };
  type Step = keyof typeof step;
  // Every order in which each archive stores before it uploads.
  const orders: Step[][] = [
    ['storeEarly', 'uploadEarly', 'storeLate', 'uploadLate'],
    ['storeEarly', 'storeLate', 'uploadEarly', 'uploadLate'],
    ['storeEarly', 'storeLate', 'uploadLate', 'uploadEarly'],
    ['storeLate', 'uploadLate', 'storeEarly', 'uploadEarly'],
    ['storeLate', 'storeEarly', 'uploadLate', 'uploadEarly'],
    ['storeLate', 'storeEarly', 'uploadEarly', 'uploadLate'],
  ];
  const reset = async () => {
    await pg.opened.db.execute(sql`DELETE FROM audio_files WHERE date = ${DATE}`);
    await rm(config.storageTarget.path, { recursive: true, force: true });
    await stageArchive(config, EARLY);
    await stageArchive(config, LATE);
  };
  const outcome = async (label: string) => {
    const rows = (
      await pg.opened.db.execute<{
        archive: string;
        status: string;
        sha256: string;
        uri: string;
        text: string;
      }>(sql`
        SELECT f.archive, f.status, f.sha256, f.storage_uri AS uri, t.text
        FROM audio_files f LEFT JOIN transcripts t USING (id) WHERE f.id = ${SHARED}`)
    ).rows;
    assert.equal(rows.length, 1, label);
    const row = rows[0]!;
    const stored = await readFile(new URL(row.uri), 'utf8');
    assert.deepEqual(
      { archive: row.archive, status: row.status, text: row.text, file: stored },
      { archive: LATE, status: 'uploaded', text: `said in ${LATE}`, file: `Opus bytes of ${LATE}` },
      label,
    );
    assert.equal(
      await sha256File(new URL(row.uri).pathname),
      row.sha256,
      `${label}: the row's sha256 is the file's`,
    );
  };

  for (const order of orders) {
    await reset();
    for (const s of order) await step[s]();
    await outcome(order.join(' → '));
  }
  // Both archives at once, several times: the row locks keep store and upload of the other out.
  for (let round = 0; round < 4; round++) {
    await reset();
    const early = async () => {
      await step.storeEarly();
      await step.uploadEarly();
    };
    const late = async () => {
      await step.storeLate();
      await step.uploadLate();
    };
    await Promise.all(round % 2 ? [early(), late()] : [late(), early()]);
    await outcome(`concurrent round ${round}`);
  }
});
