/**
 * Runs `fn` on every item with at most `concurrency` calls in flight (at least one, at most one
 * per item), starting items in order. Resolves when all have finished.
 *
 * `fn` should handle its own errors: one that rejects rejects the whole call at once, while the
 * calls already running go on and the other workers keep taking items.
 *
 * If `signal` aborts, no new item starts; once the running calls have returned, the call
 * rejects with the signal's reason.
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const index = next++;
      await fn(items[index], index);
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  signal?.throwIfAborted();
}
