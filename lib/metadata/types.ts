/**
 * One video's metadata as read from metadata.parquet (see ../shared tiktok-metadata.md).
 * The typed fields are what the database stores in typed columns; `raw` keeps every parquet
 * column of the row (unknown ones too) as JSON-safe values: int64 → string when beyond 2^53,
 * timestamps → ISO-8601 strings, lists → arrays, null stays null.
 */
export interface ClipMetadata {
  /** The video id, or a stand-in key when the id is not a plain token (see invalidId). */
  id: string;
  /** The parquet's id, shortened for reports, when it could not be a key (lib/clip-id.ts). */
  invalidId?: string;
  audioFile: string;
  createTime: string | null; // ISO-8601
  description: string | null;
  hashtags: string[];
  mentions: string[];
  isAd: boolean | null;
  videoDuration: number | null; // seconds, as TikTok reports it
  music: { id: string | null; title: string | null; authorName: string | null; original: boolean | null };
  region: string | null; // location_created
  sourceQuery: string | null;
  collectedAt: string | null; // ISO-8601
  author: {
    id: string | null;
    uniqueId: string | null;
    nickname: string | null;
    verified: boolean | null;
    followerCount: string | null; // int64 as decimal string
    followingCount: string | null;
    heartCount: string | null;
    videoCount: string | null;
  };
  stats: {
    playCount: string | null; // int64 as decimal string
    diggCount: string | null;
    shareCount: string | null;
    commentCount: string | null;
    collectCount: string | null;
  };
  location: {
    locationCreated: string | null;
    poiId: string | null;
    poiName: string | null;
    poiAddress: string | null;
    poiCity: string | null;
    poiProvince: string | null;
    poiCountry: string | null;
  };
  raw: Record<string, unknown>;
}
