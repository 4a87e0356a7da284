import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import { Proxy } from '../proxy/server.js';
import {
  ConfigError,
  readConfigFile,
  resolveServeSettings,
  settingsFromEnv,
  type RawServeSettings,
} from '../config/serve-config.js';

/** Exit code for bad settings or usage, as promised in --help. */
const EXIT_USAGE = 2;

interface ServeFlags {
  config?: string;
  listen?: string;
  upstream?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxConnections?: string;
  maxMessageSize?: string;
  idleTimeout?: string;
  drainTimeout?: string;
  connectTimeout?: string;
  logLevel?: string;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  let running: Promise<number> | undefined;
  const program = new Command('pgveil')
    .description('PostgreSQL wire-protocol proxy that masks sensitive columns unless the user holds a just-in-time grant.')
    .exitOverride()
    .showHelpAfterError('(run pgveil --help for usage)');

  program
    .command('serve')
    .description('run the proxy: clients connect to --listen, sessions are relayed to --upstream')
    .addOption(new Option('-c, --config <file>', 'YAML config file (settings in snake_case, e.g. max_connections)').env('PGVEIL_CONFIG'))
    .option('--listen <host:port>', 'address to accept clients on (PGVEIL_LISTEN; default 127.0.0.1:6432)')
    .option('--upstream <url>', 'postgres://HOST:PORT[?sslmode=...&sslrootcert=FILE] (PGVEIL_UPSTREAM)')
    .option('--tls-cert <file>', 'PEM certificate: answer SSLRequest and terminate client TLS (PGVEIL_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert (PGVEIL_TLS_KEY)')
    .option('--max-connections <n>', 'client sessions at once; more are refused with 53300 (PGVEIL_MAX_CONNECTIONS; default 1000)')
    .option('--max-message-size <size>', 'largest client message accepted, e.g. 64MiB (PGVEIL_MAX_MESSAGE_SIZE)')
    .option('--idle-timeout <duration>', 'close sessions idle this long, e.g. 10m; 0 = never (PGVEIL_IDLE_TIMEOUT)')
    .option('--drain-timeout <duration>', 'on SIGTERM/SIGINT, wait this long for sessions to end (PGVEIL_DRAIN_TIMEOUT; default 30s)')
    .option('--connect-timeout <duration>', 'upstream connect timeout (PGVEIL_CONNECT_TIMEOUT; default 10s)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (PGVEIL_LOG_LEVEL; default info)')
    .addHelpText('after', '\nPrecedence: flags beat environment variables beat the config file.\nBad settings exit with code 2.')
    .action((flags: ServeFlags) => {
      running = serve(flags);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with code 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    throw err;
  }
  if (running) exitCode = await running;
  return exitCode;
}

async function serve(flags: ServeFlags): Promise<number> {
  let settings;
  try {
    const fromFile = flags.config ? readConfigFile(flags.config) : {};
    const fromFlags: RawServeSettings = {
      listen: flags.listen,
      upstream: flags.upstream,
      tls_cert: flags.tlsCert,
      tls_key: flags.tlsKey,
      max_connections: flags.maxConnections,
      max_message_size: flags.maxMessageSize,
      idle_timeout: flags.idleTimeout,
      drain_timeout: flags.drainTimeout,
      connect_timeout: flags.connectTimeout,
      log_level: flags.logLevel,
    };
    settings = resolveServeSettings(fromFile, settingsFromEnv(process.env), fromFlags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pgveil serve: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const logger = pino({ level: settings.logLevel, base: { pid: process.pid } });
  const proxy = new Proxy({ ...settings, logger });
  try {
    await proxy.listen();
  } catch (err) {
    process.stderr.write(`pgveil serve: cannot listen on ${settings.listenHost}:${settings.listenPort}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return EXIT_USAGE;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      proxy.shutdown().then(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
