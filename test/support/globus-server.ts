/**
 * A local stand-in for Globus (DESIGN.md §7: a fake only where the real service cannot be
 * reached from here): the subset of the documented Auth and Transfer API v0.10 the pipeline
 * calls, answering with the documents and error documents Globus sends, on 127.0.0.1. Each
 * "endpoint" (collection) is a local folder; a submitted task really copies its files between
 * them (checksum sync: identical files are skipped), in the background, as Globus does.
 *
 * https://docs.globus.org/api/auth/reference/#client_credentials_grant
 * https://docs.globus.org/api/transfer/file_operations/#list_directory_contents
 * https://docs.globus.org/api/transfer/task_submit/
 * https://docs.globus.org/api/transfer/task/
 *
 * Tests steer it through `faults` (what the next task runs into) and read `tasks` / `requests`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface FakeTask {
  task_id: string;
  submission_id: string;
  label: string;
  status: 'ACTIVE' | 'INACTIVE' | 'SUCCEEDED' | 'FAILED';
  nice_status: string | null;
  is_paused: boolean;
  fatal_error: { code: string; description: string } | null;
  files: number;
  files_transferred: number;
  files_skipped: number;
  bytes_transferred: number;
  source_endpoint: string;
  destination_endpoint: string;
  sync_level: unknown;
  verify_checksum: unknown;
  items: { source_path: string; destination_path: string }[];
  events: { code: string; description: string; details: string; is_error: boolean; time: string }[];
  /** Set while the task is held back (faults.hold): call it to let the task run. */
  release?: () => void;
}

export interface FakeGlobusFaults {
  /** The next task stays ACTIVE with this nice_status and an error event (PERMISSION_DENIED…). */
  niceStatus?: string;
  /** The next task is paused by an administrator. */
  pause?: boolean;
  /** The next task ends FAILED with this fatal error. */
  fail?: { code: string; description: string };
  /** Tasks wait until `release()`d (or cancelled). */
  hold?: boolean;
  /** The next n Transfer requests answer 503 ServiceUnavailable. */
  unavailable?: number;
}

export interface FakeGlobus {
  url: string;
  clientId: string;
  clientSecret: string;
  /** Collection id → the local folder it serves. */
  endpoints: Map<string, string>;
  tasks: Map<string, FakeTask>;
  /** "METHOD /path" of every request, in order. */
  requests: string[];
  tokensIssued: number;
  /** Lifetime of the tokens it issues. */
  tokenLifetimeS: number;
  faults: FakeGlobusFaults;
  close(): Promise<void>;
}

const TRANSFER_SCOPE = 'urn:globus:auth:scope:transfer.api.globus.org:all';

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startFakeGlobus(endpoints: Record<string, string>): Promise<FakeGlobus> {
  const tokens = new Map<string, number>(); // token → expiry (ms)
  const submissionIds = new Set<string>();
  const bySubmission = new Map<string, string>();
  const state: FakeGlobus = {
    url: '',
    clientId: randomUUID(),
    clientSecret: randomUUID(),
    endpoints: new Map(Object.entries(endpoints)),
    tasks: new Map(),
    requests: [],
    tokensIssued: 0,
    tokenLifetimeS: 172_800,
    faults: {},
    close: async () => {},
  };

  /** A path on a collection as a local path; Globus paths cannot climb out of the collection. */
  function local(endpoint: string, globusPath: string): string {
    const root = state.endpoints.get(endpoint);
    if (!root) throw new ApiError(404, 'EndpointNotFound', `No such endpoint with id '${endpoint}'`);
    const resolved = path.resolve(root, `.${path.posix.resolve('/', globusPath.replace(/^\/~\//, '/'))}`);
    return resolved;
  }

  async function token(req: http.IncomingMessage, body: string): Promise<[number, object]> {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
    if (id !== state.clientId || secret !== state.clientSecret)
      return [401, { error: 'invalid_client', errors: [{ code: 'UNAUTHORIZED', detail: 'invalid client' }] }];
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return [400, { error: 'unsupported_grant_type' }];
    if (!form.get('scope')?.split(' ').includes(TRANSFER_SCOPE)) return [400, { error: 'invalid_scope' }];
    const value = randomUUID().replaceAll('-', '');
    tokens.set(value, Date.now() + state.tokenLifetimeS * 1000);
    state.tokensIssued++;
    return [
      200,
      {
        access_token: value,
        expires_in: state.tokenLifetimeS,
        resource_server: 'transfer.api.globus.org',
        token_type: 'Bearer',
        scope: TRANSFER_SCOPE,
        other_tokens: [],
      },
    ];
  }

  function taskDocument(task: FakeTask): object {
    const { items: _items, events: _events, release: _release, submission_id: _s, ...doc } = task;
    return { DATA_TYPE: 'task', type: 'TRANSFER', nice_status_short_description: task.nice_status, ...doc };
  }

  function event(task: FakeTask, code: string, description: string, details: string, isError: boolean) {
    task.events.unshift({ code, description, details, is_error: isError, time: new Date().toISOString() });
  }

  async function sha(file: string): Promise<string | null> {
    return readFile(file).then(
      (b) => createHash('sha256').update(b).digest('hex'),
      () => null,
    );
  }

  /** Runs a task in the background: waits if held, then copies (or runs into its fault). */
  async function run(task: FakeTask, fault: FakeGlobusFaults, held: Promise<void>): Promise<void> {
    await held;
    delete task.release;
    if (task.status !== 'ACTIVE') return; // cancelled while held
    if (fault.niceStatus) {
      task.nice_status = fault.niceStatus;
      event(
        task,
        fault.niceStatus,
        `Error (${fault.niceStatus.toLowerCase()})`,
        'globus_ftp_client: 550 denied',
        true,
      );
      return; // Globus retries such a task until its deadline
    }
    if (fault.pause) {
      task.is_paused = true;
      task.nice_status = 'PAUSED_BY_ADMIN';
      event(task, 'PAUSED', 'Paused by an administrator', 'rule: maintenance', false);
      return;
    }
    if (fault.fail) {
      task.status = 'FAILED';
      task.nice_status = null;
      task.fatal_error = fault.fail;
      event(task, fault.fail.code, fault.fail.description, '', true);
      return;
    }
    for (const item of task.items) {
      const from = local(task.source_endpoint, item.source_path);
      const to = local(task.destination_endpoint, item.destination_path);
      const source = await stat(from).catch(() => null);
      if (!source?.isFile()) {
        task.nice_status = 'FILE_NOT_FOUND';
        event(task, 'FILE_NOT_FOUND', 'Error (file not found)', `${item.source_path}: No such file`, true);
        return;
      }
      if (task.status !== 'ACTIVE') return;
      if (task.sync_level === 3 && (await sha(to)) === (await sha(from))) {
        task.files_skipped++;
        continue;
      }
      await mkdir(path.dirname(to), { recursive: true });
      const tmp = `${to}.globus-partial`;
      await copyFile(from, tmp);
      if (task.verify_checksum && (await sha(tmp)) !== (await sha(from)))
        throw new Error('checksum mismatch');
      await rename(tmp, to);
      task.files_transferred++;
      task.bytes_transferred += source.size;
    }
    task.status = 'SUCCEEDED';
    task.nice_status = null;
    event(task, 'SUCCEEDED', 'Task succeeded', '', false);
  }

  async function transfer(method: string, url: URL, body: string): Promise<[number, object]> {
    const p = url.pathname;
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/v0\.10\/operation\/endpoint\/([^/]+)\/ls$/.exec(p))) {
      const folder = url.searchParams.get('path') ?? '/~/';
      const dir = local(decodeURIComponent(m[1]), folder);
      const names = await readdir(dir).catch(() => {
        throw new ApiError(404, 'ClientError.NotFound', `Directory '${folder}' not found on endpoint`);
      });
      const filter = /^name:([~=])(.*)$/.exec(url.searchParams.get('filter') ?? '');
      const pattern = filter
        ? new RegExp(
            `^${filter[2]
              .split('*')
              .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
              .join(filter[1] === '~' ? '.*' : '\\*')}$`,
          )
        : null;
      const data = [];
      for (const name of names.sort()) {
        if (pattern && !pattern.test(name)) continue;
        const s = await stat(path.join(dir, name));
        data.push({
          DATA_TYPE: 'file',
          name,
          type: s.isDirectory() ? 'dir' : 'file',
          size: s.size,
          last_modified: s.mtime.toISOString().replace('T', ' ').slice(0, 19) + '+00:00',
          permissions: '0644',
        });
      }
      return [
        200,
        {
          DATA_TYPE: 'file_list',
          path: folder,
          endpoint: m[1],
          length: data.length,
          total: data.length,
          DATA: data,
        },
      ];
    }
    if (method === 'GET' && p === '/v0.10/submission_id') {
      const value = randomUUID();
      submissionIds.add(value);
      return [200, { DATA_TYPE: 'submission_id', value }];
    }
    if (method === 'POST' && p === '/v0.10/transfer') {
      const doc = JSON.parse(body) as Record<string, unknown> & {
        DATA: { source_path: string; destination_path: string }[];
      };
      if (doc.DATA_TYPE !== 'transfer' || !Array.isArray(doc.DATA) || doc.DATA.length === 0)
        throw new ApiError(
          400,
          'ClientError.BadRequest',
          'A transfer document with transfer_items is required',
        );
      const submission = String(doc.submission_id);
      if (!submissionIds.has(submission))
        throw new ApiError(400, 'ClientError.BadRequest', 'Invalid submission_id');
      const existing = bySubmission.get(submission);
      const result = {
        DATA_TYPE: 'transfer_result',
        resource: '/transfer',
        request_id: randomUUID(),
        submission_id: submission,
      };
      if (existing)
        return [
          200,
          {
            ...result,
            code: 'Duplicate',
            message: 'A transfer with id was already submitted',
            task_id: existing,
          },
        ];
      for (const endpoint of [doc.source_endpoint, doc.destination_endpoint])
        if (!state.endpoints.has(String(endpoint)))
          throw new ApiError(404, 'EndpointNotFound', `No such endpoint with id '${String(endpoint)}'`);
      const task: FakeTask = {
        task_id: randomUUID(),
        submission_id: submission,
        label: String(doc.label ?? ''),
        status: 'ACTIVE',
        nice_status: 'Queued',
        is_paused: false,
        fatal_error: null,
        files: doc.DATA.length,
        files_transferred: 0,
        files_skipped: 0,
        bytes_transferred: 0,
        source_endpoint: String(doc.source_endpoint),
        destination_endpoint: String(doc.destination_endpoint),
        sync_level: doc.sync_level,
        verify_checksum: doc.verify_checksum,
        items: doc.DATA.map((i) => ({ source_path: i.source_path, destination_path: i.destination_path })),
        events: [],
      };
      state.tasks.set(task.task_id, task);
      bySubmission.set(submission, task.task_id);
      const fault = { ...state.faults };
      delete state.faults.niceStatus;
      delete state.faults.pause;
      delete state.faults.fail;
      const held = fault.hold ? new Promise<void>((resolve) => (task.release = resolve)) : Promise.resolve();
      setTimeout(
        () =>
          void run(task, fault, held).catch((err: unknown) => event(task, 'ERROR', String(err), '', true)),
        20,
      );
      return [
        202,
        { ...result, code: 'Accepted', message: 'The transfer has been accepted', task_id: task.task_id },
      ];
    }
    if ((m = /^\/v0\.10\/task\/([^/]+)(\/event_list|\/cancel)?$/.exec(p))) {
      const task = state.tasks.get(m[1]);
      if (!task) throw new ApiError(404, 'ClientError.NotFound', `Task ${m[1]} not found`);
      if (method === 'GET' && !m[2]) return [200, taskDocument(task)];
      if (method === 'GET' && m[2] === '/event_list') {
        const limit = Number(url.searchParams.get('limit') ?? 10);
        const data = task.events.slice(0, limit).map((e) => ({ DATA_TYPE: 'event', ...e }));
        return [200, { DATA_TYPE: 'event_list', limit, offset: 0, total: task.events.length, DATA: data }];
      }
      if (method === 'POST' && m[2] === '/cancel') {
        if (task.status === 'SUCCEEDED' || task.status === 'FAILED')
          return [
            200,
            {
              DATA_TYPE: 'result',
              code: 'TaskComplete',
              message: 'The task completed before it could be cancelled',
              resource: p,
              request_id: randomUUID(),
            },
          ];
        task.status = 'FAILED';
        task.nice_status = null;
        task.fatal_error = { code: 'CANCELED', description: 'canceled' };
        event(task, 'CANCELED', 'Task canceled', '', true);
        task.release?.();
        return [
          200,
          {
            DATA_TYPE: 'result',
            code: 'Canceled',
            message: 'The task has been cancelled successfully.',
            resource: p,
            request_id: randomUUID(),
          },
        ];
      }
    }
    throw new ApiError(404, 'ClientError.NotFound', `No such resource: ${method} ${p}`);
  }

  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      state.requests.push(`${req.method} ${url.pathname}`);
      const answer = async (): Promise<[number, object]> => {
        if (url.pathname === '/v2/oauth2/token' && req.method === 'POST') return token(req, body);
        if (state.faults.unavailable) {
          state.faults.unavailable--;
          throw new ApiError(503, 'ServiceUnavailable', 'The service is down for maintenance');
        }
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!bearer || !((tokens.get(bearer) ?? 0) > Date.now()))
          throw new ApiError(401, 'AuthenticationFailed', 'Token is not active');
        return transfer(req.method ?? 'GET', url, body);
      };
      answer().then(
        ([status, doc]) => send(res, status, doc),
        (err: unknown) => {
          if (err instanceof ApiError)
            send(res, err.status, {
              code: err.code,
              message: err.message,
              request_id: randomUUID(),
              resource: url.pathname,
            });
          else
            send(res, 500, {
              code: 'InternalError',
              message: String(err),
              request_id: randomUUID(),
              resource: url.pathname,
            });
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const task of state.tasks.values()) task.release?.();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

function send(res: http.ServerResponse, status: number, doc: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(doc));
}
