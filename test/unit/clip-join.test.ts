import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinClipsWithMetadata } from '../../lib/archive/clip-join.ts';
import { clipKey } from '../../lib/clip-id.ts';
import type { ClipMetadata } from '../../lib/metadata/types.ts';

const ref = { date: '2024-01-15', archive: '2024-01-15_00-00' };
const row = (id: string, audioFile = `${id}.mp3`) => ({ id, audioFile }) as ClipMetadata;
const files = (...names: string[]) => names.map((n) => ({ path: `audio/${n}`, bytes: 100 }));

test('every video ends as one record, whichever side it came from', () => {
  const clips = joinClipsWithMetadata(
    ref,
    ['/x/audio/111.mp3', '/x/audio/333.mp3'],
    [row('111'), row('222')],
    files('111.mp3', '333.mp3'),
  );
  const byId = Object.fromEntries(clips.map((c) => [c.id, c]));
  assert.deepEqual(Object.keys(byId).sort(), ['111', '222', '333']);
  assert.equal(byId['111'].status, 'pending');
  assert.equal(byId['111'].mp3Bytes, 100);
  assert.equal(byId['111'].hasMetadata, true);
  assert.deepEqual(
    [byId['222'].status, byId['222'].error, byId['222'].mp3Path],
    ['failed', 'no audio', null],
  );
  assert.deepEqual([byId['333'].status, byId['333'].hasMetadata], ['pending', false]);
});

test('an id that cannot safely name a file fails alone and never reaches a path', () => {
  const clips = joinClipsWithMetadata(
    ref,
    ['/x/audio/a.mp3', '/x/audio/b c.mp3', `/x/audio/${'9'.repeat(129)}.mp3`, '/x/audio/444.mp3'],
    [row('../../../tmp/x', 'a.mp3'), row('444')],
    files('a.mp3', 'b c.mp3', `${'9'.repeat(129)}.mp3`, '444.mp3'),
  );
  const byId = Object.fromEntries(clips.map((c) => [c.id, c]));
  for (const given of ['../../../tmp/x', 'b c', '9'.repeat(129)]) {
    const id = clipKey(given);
    assert.match(id, /^invalid-id-[0-9a-f]{16}$/, 'a stand-in key, safe as a file name and a row key');
    assert.equal(byId[id].status, 'failed', given);
    assert.match(byId[id].error ?? '', /^unsafe id "/);
    assert.ok(byId[id].error!.includes(given.slice(0, 40)), 'the reason shows the id given');
    assert.equal(byId[id].mp3Path, null);
  }
  assert.equal(byId['444'].status, 'pending');
});
