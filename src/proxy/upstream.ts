import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { encodeCancelRequest, encodeSSLRequest } from '../wire/messages.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface UpstreamTarget {
  host: string;
  port: number;
  sslmode: SslMode;
  /** PEM of the CA(s) from sslrootcert; required for verify-ca / verify-full. */
  ca?: Buffer;
  /** host:port, for messages and logs (never credentials). */
  label: string;
}

export class ConfigError extends Error {}

/**
 * postgres://HOST[:PORT][/ignored]?sslmode=...&sslrootcert=FILE
 * Credentials and database in the URL are not used for relayed sessions: each
 * client authenticates as itself.
 */
export function parseUpstreamUrl(raw: string): UpstreamTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`upstream "${raw}" is not a URL; expected postgres://HOST:PORT`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`upstream "${raw}" must start with postgres:// or postgresql://`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConfigError(`upstream "${raw}" names no host`);
  const port = url.port ? Number(url.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`upstream port "${url.port}" is not a TCP port`);
  const modeParam = url.searchParams.get('sslmode') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(modeParam)) {
    throw new ConfigError(`upstream sslmode "${modeParam}" is not one of ${SSL_MODES.join(', ')}`);
  }
  let sslmode = modeParam as SslMode;
  const rootcert = url.searchParams.get('sslrootcert');
  let ca: Buffer | undefined;
  if (rootcert && rootcert !== 'system') {
    try {
      ca = readFileSync(rootcert);
    } catch (err) {
      throw new ConfigError(`upstream sslrootcert "${rootcert}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    // libpq: sslmode=require with a root certificate behaves like verify-ca.
    if (sslmode === 'require') sslmode = 'verify-ca';
  }
  if ((sslmode === 'verify-ca' || sslmode === 'verify-full') && !ca && rootcert !== 'system') {
    throw new ConfigError(`upstream sslmode=${sslmode} needs sslrootcert=FILE (or sslrootcert=system)`);
  }
  for (const key of url.searchParams.keys()) {
    if (key !== 'sslmode' && key !== 'sslrootcert') throw new ConfigError(`upstream URL parameter "${key}" is not supported`);
  }
  return { host, port, sslmode, ca, label: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

export class UpstreamError extends Error {}

export interface UpstreamLink {
  socket: net.Socket;
  encrypted: boolean;
}

/** Opens a TCP connection and negotiates TLS per sslmode. Resolves once the link can carry a startup packet. */
export function connectUpstream(target: UpstreamTarget, timeoutMs: number): Promise<UpstreamLink> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: target.host, port: target.port });
    raw.setNoDelay(true);
    let settled = false;
    const timer = setTimeout(() => fail(new UpstreamError(`timeout after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.destroy();
      reject(err instanceof UpstreamError ? err : new UpstreamError((err as NodeJS.ErrnoException).code ?? err.message));
    };
    const done = (socket: net.Socket, encrypted: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve({ socket, encrypted });
    };
    raw.once('error', fail);
    raw.once('close', () => fail(new UpstreamError('connection closed during setup')));
    raw.once('connect', () => {
      if (target.sslmode === 'disable' || target.sslmode === 'allow') {
        raw.removeAllListeners('close');
        return done(raw, false);
      }
      raw.write(encodeSSLRequest());
      raw.once('data', (answer: Buffer) => {
        if (answer.length !== 1) return fail(new UpstreamError('unexpected answer to SSLRequest'));
        if (answer[0] === 0x4e /* N */) {
          if (target.sslmode === 'prefer') {
            raw.removeAllListeners('close');
            return done(raw, false);
          }
          return fail(new UpstreamError(`server does not support SSL, but sslmode=${target.sslmode}`));
        }
        if (answer[0] !== 0x53 /* S */) return fail(new UpstreamError('unexpected answer to SSLRequest'));
        const verify = target.sslmode === 'verify-ca' || target.sslmode === 'verify-full';
        const secure = tls.connect({
          socket: raw,
          servername: net.isIP(target.host) ? undefined : target.host,
          ca: target.ca,
          rejectUnauthorized: verify,
          // verify-ca checks the chain only; verify-full also the host name.
          checkServerIdentity: target.sslmode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
        });
        secure.setNoDelay(true);
        secure.once('error', fail);
        secure.once('secureConnect', () => {
          raw.removeAllListeners('close');
          done(secure, true);
        });
      });
    });
  });
}

/** Forwards a cancel to the upstream backend, over TLS when the session used TLS. */
export async function sendUpstreamCancel(target: UpstreamTarget, pid: number, key: Buffer, timeoutMs: number): Promise<void> {
  const link = await connectUpstream(target, timeoutMs);
  await new Promise<void>((resolve) => {
    link.socket.on('error', () => resolve());
    link.socket.on('close', () => resolve());
    link.socket.end(encodeCancelRequest(pid, key));
    setTimeout(() => {
      link.socket.destroy();
      resolve();
    }, timeoutMs).unref();
  });
}
