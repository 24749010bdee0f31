/**
 * The phrases Whisper is known to hallucinate on silence, noise or music ("Thank you for
 * watching", "Subtitles by the Amara.org community", "ご視聴ありがとうございました", …): they come
 * from the subtitles in its training data. quality.ts drops a window whose text is one of them
 * when the window is also likely not speech.
 */

/** Phrases Whisper is known to produce on silence, noise or music (from subtitle training data). */
const HALLUCINATION_MARKERS = [
  'amara.org',
  'amara org',
  'subtitles by',
  'subtitled by',
  'captions by',
  'transcribed by',
  'translated by',
  'thank you for watching',
  'thanks for watching',
  'thank you so much for watching',
  'thank you very much for watching',
  'please subscribe',
  'like and subscribe',
  'subscribe to',
  'see you in the next video',
  'see you next time',
  'untertitel',
  'untertitelung',
  'vielen dank fürs zuschauen',
  'danke fürs zuschauen',
  'sous-titres',
  'sous titres',
  "merci d'avoir regardé",
  'merci de votre attention',
  'subtítulos',
  'subtitulos',
  'gracias por ver',
  'sottotitoli',
  'legendas pela comunidade',
  'obrigado por assistir',
  'napisy stworzone',
  'ondertiteld door',
  'ondertiteling',
  'продолжение следует',
  'спасибо за просмотр',
  'субтитры',
  'ご視聴ありがとうございました',
  'チャンネル登録',
  '字幕',
  '请不吝点赞',
  '谢谢观看',
  '優優獨播劇場',
  'mbc 뉴스',
  '시청해주셔서 감사합니다',
];
/** Short outputs that count as hallucinations only when they are the whole window. */
const HALLUCINATION_EXACT = new Set([
  'you',
  'thank you',
  'thanks',
  'thank you very much',
  'bye',
  'bye bye',
  'okay',
  'oh',
  'so',
  'hmm',
  'music',
  'applause',
  'silence',
  'the end',
  'ok',
]);

/** Lower case, punctuation removed, spaces collapsed (for comparing phrases). */
export function normalizeText(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s.'-]/gu, ' ')
    .replace(/(?<!\p{L})[.'-]|[.'-](?!\p{L})/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** True when the text contains one of the phrases, or is one of the short ones as a whole. */
export function isHallucination(text: string): boolean {
  const n = normalizeText(text);
  if (!n) return false;
  if (HALLUCINATION_EXACT.has(n)) return true;
  return HALLUCINATION_MARKERS.some((m) => n.includes(m));
}
