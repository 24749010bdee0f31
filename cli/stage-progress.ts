import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { archiveWorkflowId } from '../workflows/contract.ts';

/**
 * What a running archive is doing right now: its pending activity and the `{done, total}` that
 * activity last heartbeated — read from the server, so it works for workers anywhere. A clip-level
 * progress line for stages that take minutes (convert, transcribe) on big archives.
 */
export async function archiveStage(client: Client, archive: string): Promise<string | null> {
  try {
    const { raw } = await client.workflow.getHandle(archiveWorkflowId(archive)).describe();
    const pending = raw.pendingActivities?.[0];
    if (!pending) return null;
    const stage = String(pending.activityType?.name ?? 'activity').replace(/(Clips|Archive)$/, '');
    const payload = pending.heartbeatDetails?.payloads?.[0];
    const details = payload
      ? (defaultPayloadConverter.fromPayload(payload) as { done?: number; total?: number })
      : null;
    const retry = (pending.attempt ?? 1) > 1 ? ` (attempt ${pending.attempt})` : '';
    return details?.total ? `${stage} ${details.done ?? 0}/${details.total}${retry}` : `${stage}${retry}`;
  } catch {
    return null; // not started yet, or already closed: the next poll tells
  }
}
