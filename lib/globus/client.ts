import { auth, transfer } from '@globus/sdk';
import { BadInputError, ConfigError, errorMessage } from '../errors.ts';

/**
 * The Globus calls this pipeline makes, through the official `@globus/sdk` (its Transfer API
 * v0.10 and Auth token endpoint), with a confidential client's token: exchanged for the transfer
 * scope (client credentials grant) and exchanged again shortly before it expires. The SDK takes
 * its base URLs from GLOBUS_SDK_SERVICE_URL_TRANSFER / _AUTH when they are set (a test's local
 * server, a preview environment), else the production services.
 *
 * Every failure becomes one of three kinds, so that the activity knows whether a retry can help:
 * ConfigError (credentials, consent, an unknown endpoint, a permission the client lacks),
 * BadInputError (the request names something that is not there), GlobusTransientError (the
 * service or the network is unavailable: retried with backoff).
 */

export interface GlobusCredentials {
  clientId: string;
  /** Read when a token is needed, never stored in a field that may be logged. */
  clientSecret: () => string;
}

/** A retryable Globus failure: 5xx, 429, a timeout, a dropped connection. */
export class GlobusTransientError extends Error {
  override readonly name = 'GlobusTransientError';
}

const TRANSFER_SCOPE = 'urn:globus:auth:scope:transfer.api.globus.org:all';
/** A token is exchanged again once it has less than this left. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export interface FileListEntry {
  DATA_TYPE: 'file';
  name: string;
  type: 'file' | 'dir' | 'link';
  size: number;
}

export interface TaskDocument {
  task_id: string;
  status: 'ACTIVE' | 'INACTIVE' | 'SUCCEEDED' | 'FAILED';
  nice_status: string | null;
  nice_status_short_description?: string | null;
  label: string | null;
  files: number;
  files_transferred: number;
  files_skipped: number;
  bytes_transferred: number;
  is_paused: boolean;
  fatal_error: { code: string; description: string } | null;
}

export interface TaskEvent {
  code: string;
  description: string;
  details: string;
  is_error: boolean;
  time: string;
}

export interface TransferItem {
  source_path: string;
  destination_path: string;
}

export interface TransferSubmission {
  submissionId: string;
  sourceEndpoint: string;
  destinationEndpoint: string;
  label: string;
  items: TransferItem[];
}

type ServiceCall = (options: { headers: Record<string, string> }, sdk: SdkOptions) => Promise<Response>;
type SdkOptions = { fetch: { options: { signal: AbortSignal } } };

export class GlobusClient {
  private token: { value: string; expiresAt: number } | null = null;

  constructor(
    private readonly credentials: GlobusCredentials,
    private readonly httpTimeoutMs = 60_000,
  ) {}

  /** `operation/endpoint/<id>/ls` of a folder, its entries whose names match `filter` (`name:~…`). */
  async ls(
    endpoint: string,
    folder: string,
    filter?: string,
    signal?: AbortSignal,
  ): Promise<FileListEntry[]> {
    const doc = await this.call<{ DATA: FileListEntry[] }>(
      `list ${folder} on endpoint ${endpoint}`,
      (o, sdk) => transfer.fileOperations.ls(endpoint, { ...o, query: { path: folder, filter } }, sdk),
      signal,
    );
    return doc.DATA;
  }

  /** A fresh submission id: submitting twice with it creates one task (Globus answers Duplicate). */
  async submissionId(signal?: AbortSignal): Promise<string> {
    const doc = await this.call<{ value: string }>(
      'get a submission id',
      (o, sdk) => transfer.taskSubmission.submissionId(o, sdk),
      signal,
    );
    return doc.value;
  }

  /** Submits a transfer task, checksum-synced and verified; returns its task id. */
  async submitTransfer(task: TransferSubmission, signal?: AbortSignal): Promise<string> {
    const doc = await this.call<{ task_id: string }>(
      `submit transfer ${task.label}`,
      (o, sdk) =>
        transfer.taskSubmission.submitTransfer(
          {
            ...o,
            payload: {
              submission_id: task.submissionId,
              source_endpoint: task.sourceEndpoint,
              destination_endpoint: task.destinationEndpoint,
              label: task.label,
              sync_level: 3, // checksum: a file already at the destination byte for byte is skipped
              verify_checksum: true,
              preserve_timestamp: false,
              DATA: task.items.map((item) => ({ DATA_TYPE: 'transfer_item' as const, ...item })),
            },
          },
          sdk,
        ),
      signal,
    );
    return doc.task_id;
  }

  async task(taskId: string, signal?: AbortSignal): Promise<TaskDocument> {
    return this.call<TaskDocument>(
      `get task ${taskId}`,
      (o, sdk) => transfer.task.get(taskId, o, sdk),
      signal,
    );
  }

  /** The task's latest events, newest first: what went wrong when it is stalled or failed. */
  async taskEvents(taskId: string, signal?: AbortSignal): Promise<TaskEvent[]> {
    const doc = await this.call<{ DATA: TaskEvent[] }>(
      `get events of task ${taskId}`,
      (o, sdk) => transfer.task.getEventList(taskId, { ...o, query: { limit: 10 } }, sdk),
      signal,
    );
    return doc.DATA;
  }

  async cancel(taskId: string, signal?: AbortSignal): Promise<void> {
    await this.call(`cancel task ${taskId}`, (o, sdk) => transfer.task.cancel(taskId, o, sdk), signal);
  }

  private async call<T>(what: string, request: ServiceCall, signal?: AbortSignal): Promise<T> {
    const headers = { Authorization: `Bearer ${await this.accessToken(signal)}` };
    const response = await this.send(what, (sdk) => request({ headers }, sdk), signal);
    if (response.status === 401) this.token = null; // revoked or expired early: exchange it again
    return readResponse<T>(what, response);
  }

  private async send(
    what: string,
    request: (sdk: SdkOptions) => Promise<Response>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.httpTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      return await request({ fetch: { options: { signal: combined } } });
    } catch (err) {
      signal?.throwIfAborted();
      const why = timeout.aborted ? `no answer within ${this.httpTimeoutMs / 1000} s` : errorMessage(err);
      throw new GlobusTransientError(`Globus: cannot ${what}: ${why}`);
    }
  }

  /** The transfer-scoped token, exchanged (client credentials) when missing or about to expire. */
  private async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.token && this.token.expiresAt - Date.now() > REFRESH_MARGIN_MS) return this.token.value;
    const basic = Buffer.from(`${this.credentials.clientId}:${this.credentials.clientSecret()}`).toString(
      'base64',
    );
    const response = await this.send(
      'get a token',
      (sdk) =>
        auth.oauth2.token.token(
          // The SDK types only the authorization-code grant; client credentials is the same form post.
          {
            payload: { grant_type: 'client_credentials', scope: TRANSFER_SCOPE },
            headers: { Authorization: `Basic ${basic}` },
          } as unknown as Parameters<typeof auth.oauth2.token.token>[0],
          sdk,
        ),
      signal,
    );
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      const body = (await response.json().catch(() => ({}))) as {
        error?: string;
        error_description?: string;
      };
      throw new ConfigError(
        `Globus refused the client credentials (${body.error ?? response.status}${
          body.error_description ? `: ${body.error_description}` : ''
        }): check GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET`,
      );
    }
    const body = await readResponse<{ access_token: string; expires_in: number }>('get a token', response);
    this.token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
    return body.access_token;
  }
}

/** The JSON body of a 2xx answer; an error document becomes the error it deserves. */
async function readResponse<T>(what: string, response: Response): Promise<T> {
  const text = await response.text();
  let body: { code?: string; message?: string } & Record<string, unknown>;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = {};
  }
  if (response.ok) {
    if (!text || Object.keys(body).length === 0)
      throw new GlobusTransientError(`Globus: cannot ${what}: not a JSON answer (HTTP ${response.status})`);
    return body as T;
  }
  throw globusError(what, response.status, body.code ?? '', body.message ?? text.slice(0, 200));
}

/**
 * Globus's error documents (`{code, message, request_id, resource}`) by what a retry can do:
 * https://docs.globus.org/api/transfer/overview/#errors
 */
export function globusError(what: string, status: number, code: string, message: string): Error {
  const text = `Globus: cannot ${what}: ${code || `HTTP ${status}`}: ${message}`;
  if (status === 429 || status >= 500 || code === 'ServiceUnavailable' || code.startsWith('ExternalError'))
    return new GlobusTransientError(text);
  if (status === 401) return new GlobusTransientError(text); // token exchanged again on retry
  if (code === 'EndpointNotFound') return new ConfigError(`${text} (check SOURCE and GLOBUS_DEST_ENDPOINT)`);
  if (code === 'ConsentRequired' || code === 'PermissionDenied' || status === 403)
    return new ConfigError(`${text} (grant the client access to the collection)`);
  if (code.includes('NotFound') || status === 404) return new BadInputError(text);
  return new ConfigError(text);
}
