/**
 * Runs the real `pgveil` command (bin/pgveil.js → dist/, so build first:
 * `npx tsc -p tsconfig.build.json`) as a child process, for tests of what an
 * operator sees: exit codes, stderr, JSON log lines, signals, memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pgInfo } from './proxy.js';

export const BIN = fileURLToPath(new URL('../../bin/pgveil.js', import.meta.url));

export type Env = Record<string, string | undefined>;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The test process's environment without any PGVEIL_* variable, plus `extra`. */
export function cliEnv(extra: Env = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PGVEIL_') && v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** postgres://host:port?sslmode=disable for the suite's server. */
export function upstreamUrl(): string {
  const info = pgInfo();
  return `postgres://${info.host}:${info.port}?sslmode=disable`;
}

/** Runs the command to completion (for --help and bad-settings cases). */
export function runCli(args: string[], opts: { env?: Env; timeoutMs?: number } = {}): Promise<Exit & { stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pgveil ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 15_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 15_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export class CliProcess {
  /** Every stdout line that parsed as JSON (pino log lines), in order. */
  readonly lines: Record<string, unknown>[] = [];
  /** Every stdout line, parsed or not. */
  readonly rawLines: string[] = [];
  stderr = '';
  /** Set once the process has exited. */
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  private partial = '';
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.onStdout(d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise<Exit>((resolve) => {
      child.on('close', (code, signal) => {
        if (this.partial) this.addLine(this.partial);
        this.partial = '';
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private onStdout(d: string): void {
    const parts = (this.partial + d).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line) this.addLine(line);
    this.wake();
  }

  private addLine(line: string): void {
    this.rawLines.push(line);
    try {
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // Not JSON: kept in rawLines only.
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits for a log line matching `pred` (from the start of the output); throws on timeout or exit. */
  async waitForLine(pred: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.exit) throw new Error(`pgveil exited (${JSON.stringify(this.exit)}) before the expected log line\nstderr: ${this.stderr}\nstdout: ${this.rawLines.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a log line\nstderr: ${this.stderr}\nstdout: ${this.rawLines.join('\n')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Lines whose msg is `msg`. */
  logs(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Resident set size of the process in bytes (VmRSS from /proc/PID/status). */
  rss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!m) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(m[1]) * 1024;
  }

  /** Waits for the exit (with a bound); throws if it takes longer. */
  async waitExit(timeoutMs = 10_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`pgveil (pid ${this.pid}) still running after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Safe to call twice. */
  async stop(graceMs = 5_000): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    try {
      return await this.waitExit(graceMs);
    } catch {
      this.child.kill('SIGKILL');
      return this.exited;
    }
  }
}

export interface StartedCli {
  cli: CliProcess;
  /** Port from the 'listening' log line. */
  port: number;
  host: string;
}

/** Spawns `pgveil ARGS` and resolves once it logs 'listening'. */
export async function startCli(args: string[], opts: { env?: Env; timeoutMs?: number } = {}): Promise<StartedCli> {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const cli = new CliProcess(child);
  try {
    const line = await cli.waitForLine((l) => l.msg === 'listening', opts.timeoutMs ?? 15_000);
    const listen = String(line.listen);
    const idx = listen.lastIndexOf(':');
    return { cli, host: listen.slice(0, idx), port: Number(listen.slice(idx + 1)) };
  } catch (err) {
    await cli.stop(1_000);
    throw err;
  }
}

/** Spawns `pgveil serve --listen 127.0.0.1:PORT --upstream <suite server> ...extra`. */
export function startServe(port: number, extra: string[] = [], opts: { env?: Env } = {}): Promise<StartedCli> {
  return startCli(['serve', '--listen', `127.0.0.1:${port}`, '--upstream', upstreamUrl(), ...extra], opts);
}
