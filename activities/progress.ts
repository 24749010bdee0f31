import { Context } from '@temporalio/activity';

/**
 * Heartbeats at most every few seconds with `{ done, total }`: the server notices a dead worker
 * within the heartbeat timeout, and a retry reads how far the previous attempt got.
 */
export function progressHeartbeat(total: number, intervalMs = 3000): (done: number) => void {
  let last = 0;
  return (done: number) => {
    const now = Date.now();
    if (done < total && now - last < intervalMs) return;
    last = now;
    Context.current().heartbeat({ done, total });
  };
}

/** How far a previous attempt of this activity got, from its last heartbeat. */
export function previousProgress(): { done: number; total: number } | undefined {
  const details = Context.current().info.heartbeatDetails as { done?: number; total?: number } | undefined;
  return details && typeof details.done === 'number'
    ? { done: details.done, total: details.total ?? 0 }
    : undefined;
}
