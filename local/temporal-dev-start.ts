/**
 * `node --import tsx local/temporal-dev-start.ts`: runs the local Temporal dev server in the
 * foreground (state under $DATA_DIR/temporal) until Ctrl-C. The CLI's `dev`/`demo` use
 * startTemporalDevServer() directly; this entry is for running the server on its own.
 */
import { loadConfig } from '../lib/config.ts';
import { devServerOptionsFromConfig, startTemporalDevServer } from './temporal-dev-server.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);
const server = await startTemporalDevServer(devServerOptionsFromConfig(loadConfig(), say));
process.stdout.write(`TEMPORAL_ADDRESS=${server.address}\nWeb UI: ${server.uiUrl}\n`);
if (server.reused) {
  say('a Temporal server was already running there; nothing to keep alive');
} else {
  say('Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.stop();
}
