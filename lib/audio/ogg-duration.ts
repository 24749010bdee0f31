import { open } from 'node:fs/promises';

/**
 * Duration of an Ogg Opus file from its container, exactly as players compute it (RFC 7845):
 * (granule position of the last page − pre-skip) / 48 000. Reads only the file's first and last
 * kilobytes. Returns null when the file is not Ogg Opus or holds no audio page.
 */
export async function oggOpusDurationS(file: string): Promise<number | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const headLen = Math.min(size, 4096);
    const head = Buffer.alloc(headLen);
    await fh.read(head, 0, headLen, 0);
    const opusHead = head.indexOf('OpusHead');
    if (head.indexOf('OggS') !== 0 || opusHead < 0 || opusHead + 12 > headLen) return null;
    const preSkip = head.readUInt16LE(opusHead + 10);

    const tailLen = Math.min(size, 65536);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    for (let at = tail.lastIndexOf('OggS'); at >= 0; at = at > 0 ? tail.lastIndexOf('OggS', at - 1) : -1) {
      if (at + 14 > tailLen || tail[at + 4] !== 0) continue; // stream structure version 0
      const granule = tail.readBigInt64LE(at + 6);
      if (granule === -1n) continue; // a page on which no packet ends
      return Math.max(0, Number(granule) - preSkip) / 48000;
    }
    return null;
  } finally {
    await fh.close();
  }
}
