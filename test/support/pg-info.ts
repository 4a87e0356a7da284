/** What the global setup hands to every test file (through vitest's provide/inject). */
export interface PgInfo {
  host: string;
  port: number;
  /** Superuser used by tests to create fixtures. */
  superuser: string;
  superpass: string;
  /** PEM of the self-signed certificate the server presents (also usable as CA). */
  certFile: string;
  keyFile: string;
  /** Whether this server was set up by the suite (pg_hba per auth method, ssl on). */
  managed: boolean;
}

/** Roles created by the setup, one per authentication method in pg_hba.conf. */
export const AUTH_USERS = {
  trust: { user: 'pv_trust', password: '' },
  cleartext: { user: 'pv_clear', password: 'clear-secret' },
  md5: { user: 'pv_md5', password: 'md5-secret' },
  scram: { user: 'pv_scram', password: 'scram-secret' },
} as const;

declare module 'vitest' {
  export interface ProvidedContext {
    pg: PgInfo;
  }
}
