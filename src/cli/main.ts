import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { Proxy } from '../proxy/server.js';
import { PolicyStore } from '../policy/store.js';
import { PolicyError, policyUsesHash, resolveHashKey } from '../policy/index.js';
import { CatalogManager } from '../catalog/manager.js';
import { connectionFor } from '../catalog/dsn.js';
import { policyCheck } from './policy-check.js';
import { explain } from './explain.js';
import { scan, type ScanFlags } from './scan.js';
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
  policy?: string;
  catalogDsn?: string;
  catalogRefresh?: string;
}

const stdio = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
};

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
    .option('--policy <file>', 'masking policy YAML; reloaded on change and SIGHUP (PGVEIL_POLICY)')
    .option('--catalog-dsn <url>', 'postgres://USER:PASS@HOST:PORT for reading the catalog of each database (PGVEIL_CATALOG_DSN)')
    .option('--catalog-refresh <duration>', 're-read catalogs this often (PGVEIL_CATALOG_REFRESH; default 60s)')
    .addHelpText('after', '\nPrecedence: flags beat environment variables beat the config file.\nBad settings exit with code 2.')
    .action((flags: ServeFlags) => {
      running = serve(flags);
    });

  const policyCmd = program.command('policy').description('work with policy files');
  policyCmd
    .command('check')
    .description('validate a policy file (errors with file:line:column, exit 1); with --dsn, warn about entries that match no column')
    .argument('<file>', 'policy YAML')
    .option('--dsn <url>', 'postgres:// URL of a database to check the entries against')
    .action((file: string, o: { dsn?: string }) => {
      running = policyCheck(file, o.dsn, stdio);
    });

  program
    .command('explain')
    .description('show, without running it, what pgveil does with each result column of a statement for a user')
    .argument('<sql>', 'the statement')
    .requiredOption('--dsn <url>', 'postgres:// URL to read the catalog from')
    .requiredOption('--user <name>', 'the user to explain for (role memberships are read from the catalog)')
    .addOption(new Option('--policy <file>', 'policy YAML').env('PGVEIL_POLICY').makeOptionMandatory())
    .action((sql: string, o: { dsn: string; user: string; policy: string }) => {
      running = explain({ dsn: o.dsn, user: o.user, policyFile: o.policy, sql }, stdio).catch((err: Error) => {
        stdio.err(`pgveil explain: ${err instanceof PolicyError ? err.message : err.message}`);
        return EXIT_USAGE;
      });
    });

  program
    .command('scan')
    .description('find columns that look sensitive (PII, secrets) by sampling every table and view read-only; write a catalog and a suggested policy; --check exits 1 when a policy misses some')
    .requiredOption('--dsn <url>', 'postgres://USER@HOST:PORT/DATABASE to scan (PGPASSWORD etc. are honoured)')
    .option('--schemas <list>', 'comma-separated schemas or globs, "Quoted" for mixed case (default: every non-system schema)')
    .option('--sample <n>', 'rows sampled per table or view', '1000')
    .option('--timeout <duration>', 'statement timeout per sampled relation; slower ones are skipped', '30s')
    .option('--out <file>', 'write the YAML catalog here (default: stdout)')
    .option('--policy-out <file>', 'write a suggested policy (class and mask per sensitive column) here')
    .option('--check <policy>', 'exit 1 and list the sensitive columns this policy does not mask')
    .option('-q, --quiet', 'no progress bar and no summary on stderr')
    .addHelpText('after', '\nExit codes: 0 done, 1 --check found uncovered columns, 2 the scan could not run.\nThe catalog never contains sampled values.')
    .action((o: ScanFlags) => {
      running = scan(o, { ...stdio, progress: process.stderr });
    });

  program
    .command('demo')
    .description('start an embedded PostgreSQL with synthetic PII and pgveil in front of it (policies/demo.yaml)')
    .option('--port <port>', 'proxy port', '6432')
    .action((o: { port: string }) => {
      running = import('../demo/demo.js').then((m) => m.runDemo({ port: Number(o.port) }, stdio));
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
      policy: flags.policy,
      catalog_dsn: flags.catalogDsn,
      catalog_refresh: flags.catalogRefresh,
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
  let policy: PolicyStore | undefined;
  let catalogs: CatalogManager | undefined;
  let hashKey: Buffer | undefined;
  if (settings.policyFile) {
    try {
      policy = new PolicyStore(settings.policyFile, logger);
    } catch (err) {
      process.stderr.write(`pgveil serve: ${(err as Error).message}\n`);
      return EXIT_USAGE;
    }
    const current = policy.current();
    hashKey = resolveHashKey(current, process.env);
    if (!hashKey && policyUsesHash(current)) {
      hashKey = randomBytes(32);
      logger.warn({ env: current.hashKeyEnv }, 'no HMAC key for hash masks in the environment: using a random key (hashes differ across restarts)');
    }
    const catalogDsn = settings.catalogDsn;
    if (!catalogDsn) {
      logger.warn('no --catalog-dsn: pgveil cannot read catalogs, so statements that read tables will be refused (fail closed)');
    }
    catalogs = new CatalogManager({
      connection: (database) => connectionFor(catalogDsn ?? 'postgres://invalid.invalid:1/', database),
      refreshMs: catalogDsn ? settings.catalogRefreshMs : 0,
      logger,
    });
    policy.watch();
  }
  const proxy = new Proxy({ ...settings, logger, policy, catalogs, hashKey });
  try {
    await proxy.listen();
  } catch (err) {
    process.stderr.write(`pgveil serve: cannot listen on ${settings.listenHost}:${settings.listenPort}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return EXIT_USAGE;
  }
  const onHangup = () => policy?.reload('SIGHUP');
  process.on('SIGHUP', onHangup);
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      policy?.close();
      catalogs?.close();
      process.off('SIGHUP', onHangup);
      proxy.shutdown().then(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
