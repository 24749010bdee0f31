/**
 * How connector failures are classified for Temporal's retry: ConfigError / BadInputError fail
 * the archive or date at once, anything else is retried. The messages are what rsync+ssh and
 * Globus really print (the integration tests produce most of them live; these cover the rest).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadInputError, ConfigError } from '../../lib/errors.ts';
import { globusError, GlobusTransientError } from '../../lib/globus/client.ts';
import {
  classifyRsyncFailure,
  rsyncUri,
  RsyncTransientError,
  type RsyncTarget,
} from '../../lib/storage/rsync.ts';

const target: RsyncTarget = {
  kind: 'rsync',
  user: 'archiver',
  host: 'nas',
  path: '/opus',
  spec: 'archiver@nas:/opus',
  ssh: { port: 22, knownHosts: '/k', timeoutS: 60 },
};

test('rsync failures: what no retry fixes is a ConfigError, the network is retried', () => {
  const cases: [number, string, typeof ConfigError | typeof RsyncTransientError, RegExp][] = [
    [255, 'archiver@nas: Permission denied (publickey).', ConfigError, /refused the ssh key/],
    [12, 'Host key verification failed.', ConfigError, /STORAGE_KNOWN_HOSTS/],
    [127, 'bash: line 1: rsync: command not found', ConfigError, /rsync is not installed on the host/],
    [23, 'rsync: [Receiver] mkdir "/opus/2024" failed: Permission denied (13)', ConfigError, /not writable/],
    [
      11,
      'rsync: [Receiver] mkdir "/no/such/opus" failed: No such file or directory (2)',
      ConfigError,
      /missing/,
    ],
    [255, 'ssh: connect to host nas port 22: Connection refused', RsyncTransientError, /Connection refused/],
    [255, 'ssh: connect to host nas port 22: Connection timed out', RsyncTransientError, /timed out/],
    [30, 'rsync error: timeout in data send/receive (code 30)', RsyncTransientError, /timeout/],
    [11, 'rsync: write failed on "/opus/x": No space left on device (28)', RsyncTransientError, /No space/],
    [1, 'rsync: on remote machine: --partial-dir: unknown option', ConfigError, /refused the options/],
  ];
  for (const [code, stderr, kind, message] of cases) {
    const err = classifyRsyncFailure(target, code, `${stderr}\n`);
    assert.ok(err instanceof kind, `${stderr} → ${err.name}`);
    assert.match(err.message, message);
    assert.match(err.message, /^rsync to archiver@nas:\/opus \(port 22\) failed/);
  }
});

test('Globus error documents: unknown collections and permissions are ConfigError, outages are retried', () => {
  const cases: [number, string, new (...args: never[]) => Error, RegExp][] = [
    [404, 'EndpointNotFound', ConfigError, /check SOURCE and GLOBUS_DEST_ENDPOINT/],
    [403, 'PermissionDenied', ConfigError, /grant the client access/],
    [403, 'ConsentRequired', ConfigError, /grant the client access/],
    [404, 'ClientError.NotFound', BadInputError, /ClientError\.NotFound/],
    [400, 'ClientError.BadRequest', ConfigError, /BadRequest/],
    [503, 'ServiceUnavailable', GlobusTransientError, /ServiceUnavailable/],
    [502, 'ExternalError.DirListingFailed', GlobusTransientError, /DirListingFailed/],
    [429, 'RequestLimitExceeded', GlobusTransientError, /RequestLimitExceeded/],
    [401, 'AuthenticationFailed', GlobusTransientError, /AuthenticationFailed/],
  ];
  for (const [status, code, kind, message] of cases) {
    const err = globusError('list /x', status, code, 'details');
    assert.ok(err instanceof kind, `${status} ${code} → ${err.name}`);
    assert.match(err.message, message);
    assert.match(err.message, /^Globus: cannot list \/x: /);
  }
});

test('storage URIs: ssh://user@host[:port]/path, a home-relative root under /~/, names escaped', () => {
  assert.equal(rsyncUri(target, '2024/01/15/1.opus'), 'ssh://archiver@nas/opus/2024/01/15/1.opus');
  assert.equal(
    rsyncUri(
      { ...target, user: null, path: 'backup/opus', ssh: { ...target.ssh, port: 2222 } },
      '2024/01/15/1.opus',
    ),
    'ssh://nas:2222/~/backup/opus/2024/01/15/1.opus',
  );
  assert.equal(
    rsyncUri({ ...target, path: '/data/my opus' }, 'x.opus'),
    'ssh://archiver@nas/data/my%20opus/x.opus',
  );
});
