import type { Command } from 'commander';
import { ScheduleAlreadyRunning } from '@temporalio/client';
import type { CliContext } from '../context.ts';
import { checkDateOption } from '../date-option.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { withTemporalClient } from '../../temporal-client/with-client.ts';
import {
  EVERY_PATTERN,
  backfillDates,
  createDiscoverySchedule,
  describeSchedule,
  discoveryInput,
  discoverySchedule,
} from '../../temporal-client/discovery-schedule.ts';
import { DISCOVERY_SCHEDULE_ID } from '../../workflows/contract.ts';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** `schedule …`: the Temporal Schedule that finds new dates at the source and starts them. */
export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = program
    .command('schedule')
    .description(
      `The Temporal Schedule "${DISCOVERY_SCHEDULE_ID}": every interval, discoverDates enqueues the source's ` +
        'new dates and starts pending dates and failed dates whose retry is due, at most MAX_CONCURRENT_DATES ' +
        'at once. Needs a running server (audio-pipeline dev, or TEMPORAL_ADDRESS) and workers.',
    );
  const withClient = <T>(fn: Parameters<typeof withTemporalClient<T>>[1]) =>
    withTemporalClient(ctx.loadConfig(), fn);

  schedule
    .command('create')
    .description("create the schedule with this process's settings (task queues, limits, retries)")
    .option('--every <interval>', 'how often: 30s, 15m, 1h, 1d', '1h')
    .option('--from <YYYY-MM-DD>', 'ignore dates before this one')
    .action(async (opts: { every: string; from?: string }) => {
      if (!EVERY_PATTERN.test(opts.every))
        throw new CliError(
          `--every must look like 30s, 15m, 1h or 1d, got ${JSON.stringify(opts.every)}`,
          EXIT.usage,
        );
      if (opts.from) checkDateOption(opts.from, '--from');
      const config = ctx.loadConfig();
      await withClient(async (client) => {
        try {
          await createDiscoverySchedule(client, discoveryInput(config, { from: opts.from }), opts.every);
        } catch (err) {
          if (err instanceof ScheduleAlreadyRunning)
            throw new CliError(
              `schedule ${DISCOVERY_SCHEDULE_ID} exists already: see \`schedule describe\`, or \`schedule delete\` then create it again`,
              EXIT.usage,
            );
          throw err;
        }
        say(`schedule ${DISCOVERY_SCHEDULE_ID} created: discoverDates every ${opts.every}`);
      });
    });

  const simple: Array<
    [string, string, (h: ReturnType<typeof discoverySchedule>) => Promise<unknown>, string]
  > = [
    [
      'pause',
      'stop starting runs until unpaused',
      (h) => h.pause('paused by audio-pipeline schedule pause'),
      'paused',
    ],
    [
      'unpause',
      'start runs again',
      (h) => h.unpause('unpaused by audio-pipeline schedule unpause'),
      'unpaused',
    ],
    ['trigger', 'run discovery now (skipped if a run is in progress)', (h) => h.trigger(), 'triggered'],
    ['delete', 'delete the schedule (running dates go on)', (h) => h.delete(), 'deleted'],
  ];
  for (const [name, description, act, done] of simple) {
    schedule
      .command(name)
      .description(description)
      .action(() =>
        withClient(async (client) => {
          await act(discoverySchedule(client));
          say(`schedule ${DISCOVERY_SCHEDULE_ID} ${done}`);
        }),
      );
  }

  schedule
    .command('describe')
    .description('state, interval, next and last runs')
    .action(() =>
      withClient(async (client) => say(describeSchedule(await discoverySchedule(client).describe()))),
    );

  schedule
    .command('backfill')
    .description(
      'discover the dates from --from to --to now and start them (up to MAX_CONCURRENT_DATES; the rest stay pending for the schedule)',
    )
    .requiredOption('--from <YYYY-MM-DD>', 'first date')
    .requiredOption('--to <YYYY-MM-DD>', 'last date')
    .action(async (opts: { from: string; to: string }) => {
      checkDateOption(opts.from, '--from');
      checkDateOption(opts.to, '--to');
      if (opts.to < opts.from) throw new CliError('--to is before --from', EXIT.usage);
      const config = ctx.loadConfig();
      await withClient(async (client) => {
        const result = await backfillDates(client, {
          ...discoveryInput(config),
          from: opts.from,
          to: opts.to,
        });
        say(
          `new: ${result.added.join(' ') || '—'}; revisited: ${result.revisited.join(' ') || '—'}; started: ${result.started.join(' ') || '—'}`,
        );
      });
    });
}
