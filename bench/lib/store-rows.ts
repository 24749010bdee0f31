/**
 * The store bench's input: `count` archives of `clipsPerArchive` clips, each with a clip record,
 * TikTok metadata and a transcript of generated text (bench/lib/word-corpus.ts, seed 42) — the
 * records the store activity hands to storeArchive. `raw` is what production keeps there: all 99
 * columns of the clip's metadata.parquet row (lib/sample-day/metadata-row.ts: ~2 KB as JSON, one
 * caption in eleven over 4,000 characters), made JSON-safe as lib/metadata/read.ts does.
 */
import type { ArchiveRecord, ClipRecord, TranscriptRecord } from '../../lib/manifest.ts';
import type { ClipMetadata } from '../../lib/metadata/types.ts';
import { cleanJson } from '../../db/queries/clip-rows.ts';
import { mulberry32 } from '../../lib/random.ts';
import { metadataRow } from '../../lib/sample-day/metadata-row.ts';
import { createCorpus } from './word-corpus.ts';

const DATE = '2025-06-01';

export function storeBenchArchives(count: number, clipsPerArchive: number): ArchiveRecord[] {
  const corpus = createCorpus({ seed: 42 });
  const rng = mulberry32(42);
  return Array.from({ length: count }, (_, a) => {
    const archive = `${DATE}_${String(Math.floor(a / 6)).padStart(2, '0')}-${String((a % 6) * 10).padStart(2, '0')}`;
    const clips: ClipRecord[] = [];
    const metadata = new Map<string, ClipMetadata>();
    const transcripts: TranscriptRecord[] = [];
    for (let c = 0; c < clipsPerArchive; c++) {
      const id = String(7_400_000_000_000_000_000n + BigInt(a * 10_000 + c));
      clips.push({
        id,
        date: DATE,
        archive,
        sourceName: `${id}.mp3`,
        status: 'converted',
        error: null,
        mp3Path: `/staging/${DATE}/${archive}/audio/${id}.mp3`,
        mp3Bytes: 480_000,
        opusPath: `/staging/${DATE}/${archive}/opus/${id}.opus`,
        opusBytes: 120_000,
        storageUri: null,
        durationS: 30,
        sha256: 'ab'.repeat(32),
        hasMetadata: true,
      });
      const text = corpus.next();
      metadata.set(id, {
        id,
        audioFile: `${id}.mp3`,
        createTime: `${DATE}T10:21:07.000Z`,
        description: text.slice(0, 120) + ' #fyp',
        hashtags: ['fyp', 'foryou'],
        mentions: [],
        isAd: false,
        videoDuration: 30,
        music: { id: '7000000000000000001', title: 'original sound', authorName: 'someone', original: true },
        region: 'US',
        sourceQuery: 'fyp',
        collectedAt: `${DATE}T10:25:00.000Z`,
        author: {
          id: '6800000000000000001',
          uniqueId: 'someone',
          nickname: 'Some One',
          verified: false,
          followerCount: '1200',
          followingCount: '30',
          heartCount: '45000',
          videoCount: '88',
        },
        stats: {
          playCount: '1000',
          diggCount: '100',
          shareCount: '10',
          commentCount: '5',
          collectCount: '2',
        },
        location: {
          locationCreated: 'US',
          poiId: null,
          poiName: null,
          poiAddress: null,
          poiCity: null,
          poiProvince: null,
          poiCountry: null,
        },
        raw: cleanJson(
          metadataRow(
            rng,
            {
              id,
              date: DATE,
              archive,
              audioFile: `${id}.mp3`,
              kind: 'speech',
              language: 'en',
              sentence: text.slice(0, 120),
              voice: null,
              durationS: 30,
              hasRow: true,
              defect: null,
              expect: 'ok',
            },
            new Date(`${DATE}T10:20:00Z`),
            a * clipsPerArchive + c,
          ),
        ) as Record<string, unknown>,
      });
      transcripts.push({
        id,
        model: 'tiny.en',
        language: 'en',
        language_prob: 0.99,
        text,
        no_speech: false,
        duration_s: 30,
        segments: [{ start: 0, end: 30, text, avg_logprob: -0.2, no_speech_prob: 0.01 }],
        timings: { decode_ms: 800 },
      });
    }
    return { date: DATE, archive, clips, metadata, transcripts };
  });
}
