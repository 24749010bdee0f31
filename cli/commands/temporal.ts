import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../lib/config.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { integerOption } from '../integer-option.ts';
import {
  DEPLOY_DIR,
  parseServerDatabaseUrl,
  serverEnvironment,
  setupTemporalDatabases,
  temporalServerHome,
  writeEnvironmentFile,
} from '../../local/temporal-server-setup.ts';
import { ensureNamespace } from '../../temporal-client/namespace.ts';
import { withTemporalClient } from '../../temporal-client/with-client.ts';
import { promoteWorkerVersion } from '../../temporal-client/worker-deployment.ts';

const say = (line: string): void => void process.stderr.write(`${line}\n`);

interface SetupOpts {
  databaseUrl?: string;
  databaseUrlFile?: string;
  settingsFile?: string;
  database: string;
  visibilityDatabase: string;
  bind: string;
  port: number;
  historyShards: number;
  metricsPort: number;
  retentionDays: number;
}

/** `temporal …`: a production Temporal server on PostgreSQL (deploy/temporal/README.md). */
export function registerTemporalCommands(program: Command, ctx: CliContext): void {
  const temporal = program
    .command('temporal')
    .description(
      'A production Temporal server on PostgreSQL (deploy/temporal/): its databases, its namespace, ' +
        'and which worker build new dates start on.',
    );

  temporal
    .command('setup')
    .description(
      "Create and migrate the server's databases with its schema tool (again after an upgrade), write the " +
        'environment file its configuration reads (mode 0600, password included), and — when TEMPORAL_ADDRESS ' +
        'answers — register TEMPORAL_NAMESPACE and the search attributes. The password reaches no argv or log.',
    )
    .option('--database-url <url>', 'postgres://user:password@host:5432 (a user allowed to CREATE DATABASE)')
    .option('--database-url-file <file>', 'the same URL read from a file (keeps the password out of ps)')
    // Not --env-file: Node 20 takes that for its own option wherever it is in argv.
    .option(
      '--settings-file <file>',
      'where to write the server settings (default $DATA_DIR/temporal-server.env)',
    )
    .option('--database <name>', 'the main database', 'temporal')
    .option('--visibility-database <name>', 'the visibility database', 'temporal_visibility')
    .option('--bind <ip>', 'the address every service binds', '127.0.0.1')
    .option('--port <n>', 'frontend gRPC port (the services use the next 7, HTTP +10)', integerOption(), 7233)
    .option('--history-shards <n>', 'fixed for the life of the databases', integerOption(), 16)
    .option('--metrics-port <n>', 'Prometheus metrics', integerOption(), 9090)
    .option('--retention-days <n>', 'how long closed workflows are kept (new namespace)', integerOption(), 30)
    .action(async (opts: SetupOpts) => {
      const config = ctx.loadConfig();
      const url = databaseUrl(opts);
      const db = parseServerDatabaseUrl(url);
      const databases = { main: opts.database, visibility: opts.visibilityDatabase };
      const home = temporalServerHome(config.temporal.serverHome);
      say(`Temporal server ${home}; PostgreSQL ${db.user}@${db.host}:${db.port}`);
      await setupTemporalDatabases({ home, db, databases, log: say });
      const settingsFile = path.resolve(
        opts.settingsFile ?? path.join(config.dataDir, 'temporal-server.env'),
      );
      await writeEnvironmentFile(
        settingsFile,
        serverEnvironment({
          db,
          databases,
          bindIp: opts.bind,
          port: opts.port,
          historyShards: opts.historyShards,
          metricsPort: opts.metricsPort,
          dynamicConfig: path.join(DEPLOY_DIR, 'dynamicconfig.yaml'),
        }),
      );
      say(`server settings: ${settingsFile} (mode 0600)`);
      if (config.temporal.address) await registerNamespace(config, opts.retentionDays, 60_000);
      else
        say(
          'start the server (deploy/temporal/README.md), then: TEMPORAL_ADDRESS=host:port audio-pipeline temporal namespace',
        );
    });

  temporal
    .command('namespace')
    .description(
      "Register TEMPORAL_NAMESPACE and the pipeline's search attributes on TEMPORAL_ADDRESS (idempotent).",
    )
    .option('--retention-days <n>', 'how long closed workflows are kept (new namespace)', integerOption(), 30)
    .option('--wait <seconds>', 'how long to wait for the server to answer', integerOption(), 60)
    .action(async (opts: { retentionDays: number; wait: number }) => {
      const config = ctx.loadConfig();
      if (!config.temporal.address) throw new CliError('TEMPORAL_ADDRESS is not set', EXIT.usage);
      await registerNamespace(config, opts.retentionDays, opts.wait * 1000);
    });

  temporal
    .command('promote')
    .description(
      'Make WORKER_BUILD_ID the current version of WORKER_DEPLOYMENT_NAME: new dates start on it, running ' +
        'dates finish on the build they started on. Waits until its workers poll.',
    )
    .option('--wait <seconds>', 'how long to wait for its workers', integerOption(), 120)
    .option('--ignore-missing-queues', 'promote even if its GPU workers are not polling yet')
    .action(async (opts: { wait: number; ignoreMissingQueues?: boolean }) => {
      const config = ctx.loadConfig();
      const version = config.temporal.workerVersion;
      if (!version) throw new CliError('WORKER_BUILD_ID is not set: which build to promote?', EXIT.usage);
      await withTemporalClient(config, (client) =>
        promoteWorkerVersion(client, version, {
          timeoutMs: opts.wait * 1000,
          ignoreMissingTaskQueues: opts.ignoreMissingQueues,
        }),
      );
      say(`${version.deploymentName}.${version.buildId} is the current version`);
    });
}

function databaseUrl(opts: SetupOpts): string {
  if (opts.databaseUrl && opts.databaseUrlFile)
    throw new CliError('give --database-url or --database-url-file, not both', EXIT.usage);
  if (opts.databaseUrl) return opts.databaseUrl;
  if (!opts.databaseUrlFile)
    throw new CliError('--database-url or --database-url-file is required', EXIT.usage);
  try {
    return readFileSync(opts.databaseUrlFile, 'utf8').trim();
  } catch (err) {
    throw new CliError(
      `--database-url-file ${opts.databaseUrlFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`,
      EXIT.usage,
    );
  }
}

async function registerNamespace(config: Config, retentionDays: number, timeoutMs: number): Promise<void> {
  const { address, namespace } = config.temporal;
  const done = await ensureNamespace(address!, namespace, { timeoutMs, retentionDays });
  say(
    `${address}: namespace ${namespace} ${done.registered ? 'registered' : 'exists'}; search attributes ` +
      (done.addedAttributes.length ? `added ${done.addedAttributes.join(', ')}` : 'present'),
  );
}
