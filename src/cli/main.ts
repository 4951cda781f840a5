// The `slipway` command. `up` starts the server in this process; every other command talks
// to a running server through the typed client, like the dashboard does.

import { Command, InvalidArgumentError } from 'commander';
import { savedCredential } from '../auth/credentials.ts';
import { ApiError, SlipwayClient } from '../client/client.ts';
import { DEFAULT_PORT, VERSION } from '../core/version.ts';
import { modulesFor } from './commands.ts';
import { bold, cyan, dim, table, yellow } from './format.ts';
import { fail, print } from './output.ts';
import { PromptError } from './prompt.ts';
import { nodeHttpTransport } from './transport.ts';

// `slipway logs 3 | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command();
program
  .name('slipway')
  .description('One shared pipeline for every containerized service.')
  .version(VERSION)
  .option('--server <url>', 'Slipway server to talk to', process.env.SLIPWAY_URL ?? `http://127.0.0.1:${DEFAULT_PORT}`)
  .showHelpAfterError();

const serverUrl = () => program.opts<{ server: string }>().server;
/** Set by `up`: the process then lives on as the server. */
let serving = false;
/** SLIPWAY_TOKEN, else the token `slipway login` (or the first `slipway up`) saved for this server. */
const client = () => new SlipwayClient(serverUrl(), process.env.SLIPWAY_TOKEN || savedToken(serverUrl()), nodeHttpTransport);

/** The token saved for this server, if any; a credentials file that cannot be read counts as none. */
function savedToken(url: string): string | undefined {
  try {
    return savedCredential(url)?.token;
  } catch (error) {
    process.stderr.write(`slipway: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
}

function portNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('expected a port number between 0 and 65535');
  return parsed;
}

program
  .command('up')
  .description('start the Slipway server (SQLite, local container engine, demo when no config is given)')
  .option('--config <file>', 'slipway.yml to load (default: ./slipway.yml, else the demo)')
  .option('--data <dir>', 'folder for the database, workspaces and caches', process.env.SLIPWAY_DATA ?? '.slipway')
  .option('--port <n>', 'port to listen on (0 picks a free one)', portNumber, DEFAULT_PORT)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--process', 'run steps as local processes even when a container engine exists')
  .action(async (options: { config?: string; data: string; port: number; host: string; process?: boolean }) => {
    serving = true;
    // Loaded here so the client commands start fast: the server pulls in the engine and drivers.
    const { startServer, StartupError } = await import('../server/main.ts');
    const server = await startServer({
      configFile: options.config,
      dataDir: options.data,
      port: options.port,
      host: options.host,
      processExecutor: options.process,
      say: (message) => print(dim(message)),
    }).catch((error: unknown) => {
      if (error instanceof StartupError) fail(error.message);
      throw error;
    });
    print(`${bold(`Slipway ${VERSION}`)} listening on ${cyan(server.url)}`);
    print(
      table([
        ['  config', server.info.configFile],
        ['  store', server.info.store],
        ['  executor', server.info.executor],
        ['  builder', server.info.builder],
        ['  deployer', server.info.deployer],
      ]),
    );
    for (const notice of server.info.notices) print(yellow(`  ! ${notice}`));
    print(dim(`  try: npx slipway status   (Ctrl-C stops the server; running steps continue and are re-attached on restart)`));
    const shutdown = () => {
      // Runs in flight are left to the next start: their containers keep running and are re-attached.
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });

// Only the module of the command given, so a command loads what it needs; help gets every one.
const ownCommands = program.commands.map((command) => command.name());
const registers = await Promise.all(modulesFor(process.argv.slice(2), ownCommands).map((module) => module.load()));
for (const register of registers) register(program, { client, serverUrl });

try {
  await program.parseAsync(process.argv);
  // A client command is done once its action is: fetch's idle keep-alive connection would hold
  // the process a further ~0.2 s. Exits once what it printed is written.
  if (!serving) process.stdout.write('', () => process.exit());
} catch (error) {
  // An argument checked inside an action (a run number) is reported like a server's refusal.
  if (error instanceof ApiError && error.status === 401) fail(`${error.message}\n  sign in: slipway login --server ${serverUrl()} (or set SLIPWAY_TOKEN)`);
  if (error instanceof ApiError || error instanceof InvalidArgumentError || error instanceof PromptError) fail(error.message);
  throw error;
}
